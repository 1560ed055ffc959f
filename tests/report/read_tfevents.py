#!/usr/bin/env python3
"""Independent reader of TensorBoard event files, for the tests of report/tensorboard.

Checks every record's framing (both masked CRC-32C values, with python3-crc32c) and decodes each record
with python3-protobuf, using message types declared here from TensorFlow's event.proto / summary.proto
field numbers. Prints one JSON document: a list of events with their values.
Exit status 1 with a message on any framing or decoding error.
    read_tfevents.py FILE
"""
import json
import struct
import sys

import crc32c
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto


def masked(data):
    c = crc32c.crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def message_types():
    fdp = descriptor_pb2.FileDescriptorProto(name="events_check.proto", package="check", syntax="proto3")

    def add(name, fields):
        m = fdp.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = type_name

    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    add("Image", [("height", 1, F.TYPE_INT32, opt, None), ("width", 2, F.TYPE_INT32, opt, None),
                  ("colorspace", 3, F.TYPE_INT32, opt, None), ("encoded_image_string", 4, F.TYPE_BYTES, opt, None)])
    add("Value", [("tag", 1, F.TYPE_STRING, opt, None), ("simple_value", 2, F.TYPE_FLOAT, opt, None),
                  ("image", 4, F.TYPE_MESSAGE, opt, ".check.Image")])
    add("Summary", [("value", 1, F.TYPE_MESSAGE, rep, ".check.Value")])
    add("Event", [("wall_time", 1, F.TYPE_DOUBLE, opt, None), ("step", 2, F.TYPE_INT64, opt, None),
                  ("file_version", 3, F.TYPE_STRING, opt, None), ("summary", 5, F.TYPE_MESSAGE, opt, ".check.Summary")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    factory = message_factory.MessageFactory(pool)
    return factory.GetPrototype(pool.FindMessageTypeByName("check.Event"))


def main(path):
    Event = message_types()
    out = []
    with open(path, "rb") as f:
        blob = f.read()
    pos = 0
    while pos < len(blob):
        header = blob[pos:pos + 12]
        if len(header) < 12:
            sys.exit(f"{path}: truncated record header at byte {pos}")
        (length,), (len_crc,) = struct.unpack("<Q", header[:8]), struct.unpack("<I", header[8:12])
        if masked(header[:8]) != len_crc:
            sys.exit(f"{path}: length CRC mismatch at byte {pos}")
        data = blob[pos + 12:pos + 12 + length]
        tail = blob[pos + 12 + length:pos + 16 + length]
        if len(data) != length or len(tail) != 4:
            sys.exit(f"{path}: truncated record at byte {pos}")
        if masked(data) != struct.unpack("<I", tail)[0]:
            sys.exit(f"{path}: data CRC mismatch at byte {pos}")
        e = Event()
        e.ParseFromString(data)
        rec = {"step": e.step, "wall_time": e.wall_time}
        if e.file_version:
            rec["file_version"] = e.file_version
        values = []
        for v in e.summary.value:
            item = {"tag": v.tag}
            if v.HasField("image"):
                img = v.image
                item["image"] = {"height": img.height, "width": img.width, "colorspace": img.colorspace,
                                 "bytes": len(img.encoded_image_string),
                                 "png": img.encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n"}
            else:
                item["simple_value"] = v.simple_value
            values.append(item)
        if values:
            rec["values"] = values
        out.append(rec)
        pos += 16 + length
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
