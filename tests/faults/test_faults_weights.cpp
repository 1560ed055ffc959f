// Fault cases: weights and checkpoints that are not what they claim. NaN weights (safetensors, .pth,
// checkpoints, through the C++ API) are refused naming the file and the tensors, and a latest.pt holding
// NaN is never resumed from; altered bytes are caught by the checksums the toolkit writes, and files
// that carry none say so; wrong formats, a latest.pt that is a directory, architecture metadata out of
// its flag's bounds and --name with --weights each fail in one line naming the file or flags.
#include "faults/faults.h"

#include <pix2pix/pix2pix.h>

#include "p2p/core/config_json.h"
#include "p2p/eval/export.h"
#include "p2p/eval/generator.h"
#include "p2p/io/checkpoint.h"
#include "p2p/io/integrity.h"
#include "p2p/io/safetensors.h"
#include "p2p/io/state_dict.h"
#include "p2p/models/networks.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

namespace fs = std::filesystem;

namespace p2p {
namespace {

NetConfig tiny_net() {
  NetConfig n;
  n.netG = "unet_32";
  n.ngf = 8;
  return n;
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// A tiny exported generator and a 32x32 input, made once per process.
struct Files {
  std::string dir, export_path, input;
};
const Files& files() {
  static const Files f = [] {
    Files out;
    out.dir = test::scratch_dir("faults_weights");
    out.export_path = out.dir + "/g.safetensors";
    out.input = out.dir + "/in.png";
    NetworkPtr G = make_generator(tiny_net());
    export_generator_safetensors(out.export_path, *G, {{"net", to_json(tiny_net())}}, "test");
    test::write_random_png(out.input, 32, 32, 3, 7);
    return out;
  }();
  return f;
}

test::CommandResult translate(const std::string& weights_args, const std::string& out) {
  return test::run_p2p("translate " + weights_args + " --input " + quoted(files().input) + " --output " + quoted(out));
}

// The promise for a refused file: non-zero exit, one line, naming `file` and each of `found`, and no
// output image written.
void expect_refused(const test::CommandResult& r, const std::string& file, const std::vector<std::string>& found,
                    const std::string& out = "") {
  EXPECT_NE(r.exit_code, 0) << r.output;
  std::string text = r.output;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  EXPECT_EQ(text.find('\n'), std::string::npos) << "not one line:\n" << r.output;
  EXPECT_NE(text.find(file), std::string::npos) << "does not name " << file << ": " << r.output;
  for (const std::string& f : found) EXPECT_NE(text.find(f), std::string::npos) << "no '" << f << "': " << r.output;
  if (!out.empty()) {
    EXPECT_FALSE(fs::exists(out + "/in.png")) << "an image was written from refused weights";
  }
}

// The export with one value of its first tensor set to NaN, written with a valid checksum (so the
// finiteness check, not the checksum, must catch it).
std::string nan_export(const std::string& path) {
  Safetensors f = read_safetensors(files().export_path);
  f.tensors.front().second = f.tensors.front().second.clone();
  f.tensors.front().second.view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
  write_safetensors(path, f);
  return path;
}

at::Tensor all_by_name(const StateDict& dict, const std::string& name) {
  for (const auto& [n, t] : dict) {
    if (n == name) return t;
  }
  return {};
}

void flip_byte(const std::string& path, std::streamoff from_end, unsigned char mask) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekg(-from_end, std::ios::end);
  const char c = static_cast<char>(f.get());
  f.seekp(-from_end, std::ios::end);
  f.put(static_cast<char>(c ^ static_cast<char>(mask)));
}

TEST(FaultsWeights, NaNInSafetensorsIsRefused) {
  const std::string dir = test::scratch_dir("fw_nan_st");
  const std::string bad = nan_export(dir + "/nan.safetensors");
  expect_refused(translate("--weights " + quoted(bad), dir + "/out"), "nan.safetensors",
                 {"model.model.0.weight", "1 NaN", "non-finite"}, dir + "/out");
}

TEST(FaultsWeights, NaNInPthIsRefused) {
  const std::string dir = test::scratch_dir("fw_nan_pth");
  StateDict dict = read_safetensors(files().export_path).tensors;
  dict.back().second = dict.back().second.clone().fill_(std::numeric_limits<float>::infinity());
  write_state_dict(dir + "/nan_net_G.pth", dict);  // zip format, valid CRC-32s
  expect_refused(translate("--weights " + quoted(dir + "/nan_net_G.pth") + " --netG unet_32 --ngf 8", dir + "/out"),
                 "nan_net_G.pth", {dict.back().first, "Inf"}, dir + "/out");
}

TEST(FaultsWeights, NaNThroughTheApiThrows) {
  const std::string dir = test::scratch_dir("fw_nan_api");
  const std::string bad = nan_export(dir + "/nan.safetensors");
  std::string message;
  try {
    pix2pix::Translator t(bad);
  } catch (const pix2pix::Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("nan.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("NaN"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(FaultsWeights, NaNLatestCheckpointIsNeverResumedNorCalledGood) {
  const std::string dir = test::scratch_dir("fw_nan_ckpt");
  const std::string data = test::write_ab_dataset(dir + "/data", 3, 1);
  const std::string train = "train --dataroot " + quoted(data) + " --checkpoints_dir " + quoted(dir) + " --name r" +
                            test::kTinyRun + " --val_fraction 0.34 --n_epochs 2 --n_epochs_decay 0 --num_samples 0 ";
  test::CommandResult r = test::run_p2p(train + "--max_iters 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string latest = dir + "/r/latest.pt";
  // Poison G in latest.pt and re-seal it: a valid zip and a valid checksum, with a NaN inside.
  StateDict all = read_state_dict(latest);
  std::string poisoned;
  for (auto& [name, t] : all) {
    if (poisoned.empty() && name.rfind("G.", 0) == 0 && at::isFloatingType(t.scalar_type())) {
      t = t.clone();
      t.view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
      poisoned = name;
    }
  }
  for (auto& [name, t] : all) {
    if (name != "meta") continue;
    nlohmann::json meta = nlohmann::json::parse(std::string(static_cast<const char*>(t.data_ptr()), t.numel()));
    meta["data_crc32c"][poisoned] = checksum_hex(tensor_crc32c(all_by_name(all, poisoned)));
    const std::string text = meta.dump();
    t = at::empty({static_cast<int64_t>(text.size())}, at::kByte);
    std::memcpy(t.data_ptr(), text.data(), text.size());
  }
  write_state_dict(latest, all);
  const std::string before = test::read_file(latest);

  r = test::run_p2p(train + "--continue_train");
  expect_refused(r, "latest.pt", {poisoned, "NaN", "--epoch best"});
  EXPECT_EQ(r.output.find("good"), std::string::npos) << r.output;  // never "the last good checkpoint"
  EXPECT_EQ(test::read_file(latest), before) << "the refused checkpoint was rewritten";
  // Inference from the run refuses it too.
  expect_refused(translate("--name r --checkpoints_dir " + quoted(dir), dir + "/out"), "latest.pt", {"NaN"},
                 dir + "/out");
  // The suggested way out works: best.pt (epoch 1, finite) resumes.
  r = test::run_p2p(train + "--continue_train --epoch best");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(FaultsWeights, FlippedByteInSafetensorsFailsItsChecksum) {
  const std::string dir = test::scratch_dir("fw_flip_st");
  const std::string bad = dir + "/flipped.safetensors";
  fs::copy_file(files().export_path, bad);
  flip_byte(bad, 4, 0x01);  // the lowest mantissa bit of the last value: still a finite number
  expect_refused(translate("--weights " + quoted(bad), dir + "/out"), "flipped.safetensors",
                 {"does not match the checksum", kDataChecksumKey}, dir + "/out");
}

TEST(FaultsWeights, FlippedByteInLegacyPthIsNotedAsUncheckable) {
  // The legacy torch.save format (the reference's published models) holds no checksum: the damage
  // cannot be seen, and the run says that the file could not be verified.
  const std::string dir = test::scratch_dir("fw_flip_legacy");
  const std::string legacy = dir + "/legacy_net_G.pth";
  fs::copy_file(test::reference_fixtures() + "/legacy_resnet_9blocks.pth", legacy);
  flip_byte(legacy, 4, 0x01);
  test::write_random_png(dir + "/in.png", 64, 64, 3, 3);
  const test::CommandResult r = test::run_p2p("translate --weights " + quoted(legacy) +
                                              " --netG resnet_9blocks --ngf 8 --input " + quoted(dir + "/in.png") +
                                              " --output " + quoted(dir + "/out"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("note: " + legacy + " carries no checksum"), std::string::npos) << r.output;
  // Files the toolkit wrote, and torch.save zip files (CRC-32 per record), get no such note.
  const test::CommandResult ok = translate("--weights " + quoted(files().export_path), dir + "/out_ok");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_EQ(ok.output.find("checksum"), std::string::npos) << ok.output;
}

TEST(FaultsWeights, BadSafetensorsHeaderNamesTheFormat) {
  const std::string dir = test::scratch_dir("fw_bad_header");
  std::string bytes = test::read_file(files().export_path);
  bytes[8] = '[';  // the JSON header's opening brace
  std::ofstream(dir + "/bad.safetensors", std::ios::binary) << bytes;
  const test::CommandResult r = translate("--weights " + quoted(dir + "/bad.safetensors"), dir + "/out");
  expect_refused(r, "bad.safetensors", {"not a valid safetensors file", "does not start with '{'"}, dir + "/out");
  EXPECT_EQ(r.output.find("zip"), std::string::npos) << r.output;
}

TEST(FaultsWeights, TorchScriptAsWeightsPointsToTorchJitLoad) {
  const std::string dir = test::scratch_dir("fw_torchscript");
  const std::string ts = dir + "/g.ts.pt";
  const test::CommandResult e = test::run_p2p("export --weights " + quoted(files().export_path) +
                                              " --format torchscript --out " + quoted(ts));
  ASSERT_EQ(e.exit_code, 0) << e.output;
  expect_refused(translate("--weights " + quoted(ts), dir + "/out"), "g.ts.pt", {"TorchScript", "torch.jit.load"},
                 dir + "/out");
}

TEST(FaultsWeights, LatestPtThatIsADirectoryIsNamedAsSuch) {
  const std::string dir = test::scratch_dir("fw_latest_dir");
  fs::create_directories(dir + "/r/latest.pt");
  const test::CommandResult r = translate("--name r --checkpoints_dir " + quoted(dir), dir + "/out");
  expect_refused(r, "latest.pt", {"is a directory"}, dir + "/out");
  EXPECT_EQ(r.output.find("has no latest.pt"), std::string::npos) << r.output;
}

TEST(FaultsWeights, AbsurdArchitectureMetadataIsRangeChecked) {
  const std::string dir = test::scratch_dir("fw_ngf");
  Safetensors f = read_safetensors(files().export_path);
  auto with_ngf = [&](const std::string& name, const nlohmann::json& ngf) {
    nlohmann::json net = nlohmann::json::parse(f.metadata.at("pix2pix.net"));
    net["ngf"] = ngf;
    Safetensors g = f;
    g.metadata["pix2pix.net"] = net.dump();
    write_safetensors(dir + "/" + name, g);
    return dir + "/" + name;
  };
  // 2^40 once wrapped to 0 ("got 0"): now named with the flag's bound.
  expect_refused(translate("--weights " + quoted(with_ngf("huge.safetensors", int64_t{1} << 40)), dir + "/out"),
                 "huge.safetensors", {"'ngf'", "1099511627776", "a whole number >= 1"}, dir + "/out");
  expect_refused(translate("--weights " + quoted(with_ngf("frac.safetensors", 8.5)), dir + "/out"), "frac.safetensors",
                 {"'ngf'", "not a whole number"}, dir + "/out");
  // Within --ngf's bounds but beyond any memory: said so, not the allocator's raw message.
  const test::CommandResult r = translate("--weights " + quoted(with_ngf("wide.safetensors", 100000)), dir + "/out");
  expect_refused(r, "wide.safetensors", {"ngf 100000", "more memory than there is"}, dir + "/out");
  EXPECT_EQ(r.output.find("DefaultCPUAllocator"), std::string::npos) << r.output;
}

TEST(FaultsWeights, NameWithWeightsIsRefusedNamingBoth) {
  const std::string dir = test::scratch_dir("fw_name_weights");
  const test::CommandResult r =
      translate("--name r --checkpoints_dir " + quoted(dir) + " --weights " + quoted(files().export_path), dir + "/out");
  expect_refused(r, "--weights", {"--name r", "g.safetensors"}, dir + "/out");
}

// Load time of a full-size generator (unet_256, ngf 64: 54.4M parameters) from an export, and what the
// checks cost within it. Run by hand: test_faults --gtest_also_run_disabled_tests
// --gtest_filter='*LoadTime*'.
TEST(FaultsWeights, DISABLED_LoadTimeUnet256) {
  const std::string dir = test::scratch_dir("fw_load_time");
  NetConfig net;  // the defaults: unet_256, ngf 64
  const std::string path = dir + "/unet_256.safetensors";
  {
    NetworkPtr G = make_generator(net);
    export_generator_safetensors(path, *G, {{"net", to_json(net)}}, "test");
  }
  using clock = std::chrono::steady_clock;
  auto seconds = [](clock::time_point a) { return std::chrono::duration<double>(clock::now() - a).count(); };
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = clock::now();
    nlohmann::json config;
    const StateDict file = read_generator_weights(path, config);
    const double read = seconds(t0);
    t0 = clock::now();
    GeneratorSource source;
    source.weights = path;
    const LoadedGenerator g = load_generator(source);
    const double load = seconds(t0);
    const std::string raw = test::read_file(path);
    t0 = clock::now();
    const uint32_t crc = crc32c(0, raw.data(), raw.size());
    const double hash = seconds(t0);
    t0 = clock::now();
    const std::string report = non_finite_report(file);
    const double finite = seconds(t0);
    std::printf("load_generator %.3f s (of which read_generator_weights %.3f s); over %.0f MB: CRC-32C %.4f s, "
                "finiteness %.4f s [%08x%s]\n",
                load, read, raw.size() / 1e6, hash, finite, crc, report.c_str());
  }
}

}  // namespace
}  // namespace p2p
