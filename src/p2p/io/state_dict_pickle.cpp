// Strict reader and writer for the pickles of torch.save(state_dict) files (see the header). The reader
// is a small pickle machine that knows only the opcodes and globals those files contain, so a
// checkpoint can never make us call arbitrary constructors, and any other file fails with a message
// that names the opcode or global it met instead of a silent misread.
#include "p2p/io/state_dict_pickle.h"

#include "p2p/core/error.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <unordered_map>
#include <utility>
#include <vector>

namespace p2p::detail {
namespace {

const char* const kExpected = " — expected a PyTorch state_dict file (torch.save(net.state_dict()))";

// The legacy stream's first pickle: protocol 2, LONG1 of 10 bytes holding 0x1950a86a20f9469cfc6c.
const unsigned char kLegacyMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                      0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
constexpr int64_t kLegacyProtocolVersion = 1001;

// ---- values on the pickle stack ------------------------------------------------------------------

enum class Kind { none, boolean, integer, big_integer, string, tuple, list, dict, global, storage, tensor };

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Value {
  Kind kind = Kind::none;
  bool flag = false;
  int64_t integer = 0;
  std::string text;                                     // string, "module.name" of a global, big_integer bytes
  at::ScalarType storage_dtype = at::ScalarType::Undefined;  // global torch.<T>Storage
  std::vector<ValuePtr> items;                          // tuple, list
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;   // dict (insertion order kept)
  // storage: root key, the view's first element and length within the root
  std::string storage_key;
  int64_t view_offset = 0, view_numel = 0;
  TensorSpec tensor;
};

ValuePtr make(Kind kind) {
  auto v = std::make_shared<Value>();
  v->kind = kind;
  return v;
}

std::string describe(const Value& v) {
  switch (v.kind) {
    case Kind::none: return "None";
    case Kind::boolean: return "a bool";
    case Kind::integer: return "an int (" + std::to_string(v.integer) + ")";
    case Kind::big_integer: return "an int wider than 64 bits";
    case Kind::string: return "a str ('" + v.text + "')";
    case Kind::tuple: return "a tuple";
    case Kind::list: return "a list";
    case Kind::dict: return "a dict";
    case Kind::global: return "the global " + v.text;
    case Kind::storage: return "a storage";
    case Kind::tensor: return "a tensor";
  }
  return "?";
}

const std::map<std::string, at::ScalarType>& storage_types() {
  static const std::map<std::string, at::ScalarType> types = {
      {"Float", at::kFloat}, {"Double", at::kDouble}, {"Half", at::kHalf}, {"BFloat16", at::kBFloat16},
      {"Long", at::kLong},   {"Int", at::kInt},       {"Short", at::kShort}, {"Char", at::kChar},
      {"Byte", at::kByte},   {"Bool", at::kBool}};
  return types;
}

// Names of opcodes for error messages, including ones we refuse (so the message says what was found).
std::string opcode_name(unsigned char op) {
  static const std::map<unsigned char, const char*> names = {
      {0x80, "PROTO"}, {0x95, "FRAME"}, {'c', "GLOBAL"}, {0x93, "STACK_GLOBAL"}, {'}', "EMPTY_DICT"},
      {')', "EMPTY_TUPLE"}, {']', "EMPTY_LIST"}, {'(', "MARK"}, {'t', "TUPLE"}, {0x85, "TUPLE1"},
      {0x86, "TUPLE2"}, {0x87, "TUPLE3"}, {'q', "BINPUT"}, {'r', "LONG_BINPUT"}, {'h', "BINGET"},
      {'j', "LONG_BINGET"}, {0x94, "MEMOIZE"}, {'J', "BININT"}, {'K', "BININT1"}, {'M', "BININT2"},
      {0x8a, "LONG1"}, {0x8b, "LONG4"}, {'X', "BINUNICODE"}, {0x8c, "SHORT_BINUNICODE"},
      {0x8d, "BINUNICODE8"}, {0x89, "NEWFALSE"}, {0x88, "NEWTRUE"}, {'N', "NONE"}, {'R', "REDUCE"},
      {'Q', "BINPERSID"}, {'P', "PERSID"}, {'s', "SETITEM"}, {'u', "SETITEMS"}, {'b', "BUILD"},
      {'a', "APPEND"}, {'e', "APPENDS"}, {'.', "STOP"}, {'G', "BINFLOAT"}, {'F', "FLOAT"}, {'I', "INT"},
      {'L', "LONG"}, {'S', "STRING"}, {'T', "BINSTRING"}, {'U', "SHORT_BINSTRING"}, {'B', "BINBYTES"},
      {'C', "SHORT_BINBYTES"}, {0x8e, "BINBYTES8"}, {0x96, "BYTEARRAY8"}, {'V', "UNICODE"},
      {'d', "DICT"}, {'l', "LIST"}, {'0', "POP"}, {'1', "POP_MARK"}, {'2', "DUP"}, {'g', "GET"},
      {'p', "PUT"}, {'i', "INST"}, {'o', "OBJ"}, {0x81, "NEWOBJ"}, {0x92, "NEWOBJ_EX"},
      {0x8f, "EMPTY_SET"}, {0x90, "ADDITEMS"}, {0x91, "FROZENSET"}, {0x82, "EXT1"}, {0x83, "EXT2"},
      {0x84, "EXT4"}, {0x97, "NEXT_BUFFER"}, {0x98, "READONLY_BUFFER"}};
  std::ostringstream s;
  auto it = names.find(op);
  s << (it != names.end() ? it->second : "unknown opcode") << " (0x" << std::hex << static_cast<int>(op) << ")";
  return s.str();
}

// ---- the machine -----------------------------------------------------------------------------------

enum class Format { zip, legacy };

class Unpickler {
 public:
  Unpickler(const char* data, size_t size, Format format, const std::string& source)
      : begin_(reinterpret_cast<const unsigned char*>(data)), p_(begin_), end_(begin_ + size), format_(format),
        source_(source) {}

  // Runs one pickle from the current position to its STOP; the position is left after it. Each
  // pickle has its own memo, as Python's pickle.load gives it.
  ValuePtr next();
  size_t position() const { return static_cast<size_t>(p_ - begin_); }
  const std::map<std::string, StorageDecl>& storages() const { return storages_; }

  [[noreturn]] void bad(const std::string& what) const {
    fail(source_ + ": " + what + (format_ == Format::zip ? " in data.pkl" : " in the legacy torch.save stream") +
         " at byte " + std::to_string(pos_) + kExpected);
  }

 private:
  const unsigned char* take(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) bad("the pickle ends early (truncated file)");
    const unsigned char* at = p_;
    p_ += n;
    return at;
  }
  uint64_t read_le(size_t n) {
    const unsigned char* b = take(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(b[i]) << (8 * i);
    return v;
  }
  std::string read_bytes(size_t n) {
    const unsigned char* b = take(n);
    return std::string(reinterpret_cast<const char*>(b), n);
  }
  std::string read_line() {
    const unsigned char* nl = static_cast<const unsigned char*>(std::memchr(p_, '\n', end_ - p_));
    if (!nl) bad("a GLOBAL name is not terminated");
    std::string s(reinterpret_cast<const char*>(p_), nl - p_);
    p_ = nl + 1;
    return s;
  }

  ValuePtr pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) bad("the pickle stack underflows");
    ValuePtr v = stack_.back();
    stack_.pop_back();
    return v;
  }
  ValuePtr& top() {
    if (stack_.empty()) bad("the pickle stack is empty");
    return stack_.back();
  }
  std::vector<ValuePtr> pop_mark() {
    if (marks_.empty()) bad("an opcode needs a MARK that is not there");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> items(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return items;
  }
  void push_tuple(std::vector<ValuePtr> items) {
    ValuePtr t = make(Kind::tuple);
    t->items = std::move(items);
    stack_.push_back(t);
  }
  void push_int(int64_t v) {
    ValuePtr i = make(Kind::integer);
    i->integer = v;
    stack_.push_back(i);
  }
  void push_string(std::string s) {
    ValuePtr v = make(Kind::string);
    v->text = std::move(s);
    stack_.push_back(v);
  }
  void memo_put(uint64_t index) { memo_[index] = top(); }
  void memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) bad("memo entry " + std::to_string(index) + " is read before it is written");
    stack_.push_back(it->second);
  }

  void push_global(const std::string& module, const std::string& name);
  void set_items(ValuePtr& dict, const std::vector<ValuePtr>& kv);
  void reduce();
  void persistent_load();
  TensorSpec rebuild_tensor(const std::vector<ValuePtr>& args);
  std::vector<int64_t> int_tuple(const Value& v, const char* what);

  const unsigned char* const begin_;
  const unsigned char* p_;
  const unsigned char* end_;
  size_t pos_ = 0;  // offset of the opcode being executed, for messages
  Format format_;
  const std::string& source_;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, ValuePtr> memo_;
  std::map<std::string, StorageDecl> storages_;  // by root key
};

void Unpickler::push_global(const std::string& module, const std::string& name) {
  ValuePtr g = make(Kind::global);
  g->text = module + "." + name;
  // Legacy files name storages torch.cuda.<T>Storage when they were saved from a GPU by old releases.
  if ((module == "torch" || module == "torch.cuda") && name.size() > 7 &&
      name.compare(name.size() - 7, 7, "Storage") == 0) {
    auto it = storage_types().find(name.substr(0, name.size() - 7));
    if (it == storage_types().end()) bad("unsupported storage type " + g->text);
    g->storage_dtype = it->second;
  } else if (g->text != "collections.OrderedDict" && g->text != "torch._utils._rebuild_tensor_v2" &&
             g->text != "torch._utils._rebuild_tensor") {
    bad("unsupported global " + g->text + " (only tensors in an OrderedDict or dict are accepted)");
  }
  stack_.push_back(g);
}

void Unpickler::set_items(ValuePtr& dict, const std::vector<ValuePtr>& kv) {
  if (dict->kind != Kind::dict) bad("SETITEM(S) on " + describe(*dict) + " instead of a dict");
  if (kv.size() % 2 != 0) bad("SETITEMS with an odd number of items");
  for (size_t i = 0; i < kv.size(); i += 2) dict->entries.emplace_back(kv[i], kv[i + 1]);
}

std::vector<int64_t> Unpickler::int_tuple(const Value& v, const char* what) {
  if (v.kind != Kind::tuple) bad(std::string("tensor ") + what + " is " + describe(v) + ", not a tuple");
  std::vector<int64_t> out;
  for (const ValuePtr& i : v.items) {
    if (i->kind != Kind::integer || i->integer < 0) bad(std::string("tensor ") + what + " holds " + describe(*i));
    out.push_back(i->integer);
  }
  return out;
}

TensorSpec Unpickler::rebuild_tensor(const std::vector<ValuePtr>& args) {
  // v2: (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]);
  // pre-0.4 _rebuild_tensor: (storage, storage_offset, size, stride).
  if (args.size() != 4 && args.size() != 6 && args.size() != 7) {
    bad("_rebuild_tensor with " + std::to_string(args.size()) + " arguments");
  }
  if (args[0]->kind != Kind::storage) bad("_rebuild_tensor over " + describe(*args[0]) + " instead of a storage");
  if (args[1]->kind != Kind::integer || args[1]->integer < 0) bad("tensor storage offset is " + describe(*args[1]));
  const Value& storage = *args[0];
  const int64_t offset = args[1]->integer;
  TensorSpec spec;
  spec.storage = storage.storage_key;
  spec.sizes = int_tuple(*args[2], "size");
  spec.strides = int_tuple(*args[3], "stride");
  if (spec.sizes.size() != spec.strides.size()) bad("tensor size and stride have different lengths");
  // The view must stay inside its storage; checked with overflow-safe arithmetic since sizes come
  // from the file.
  int64_t numel = 1, last = offset;
  bool empty = false;
  for (size_t d = 0; d < spec.sizes.size(); ++d) {
    if (spec.sizes[d] == 0) empty = true;
    int64_t step = 0;
    if (__builtin_mul_overflow(spec.sizes[d] == 0 ? 0 : spec.sizes[d] - 1, spec.strides[d], &step) ||
        __builtin_add_overflow(last, step, &last) || __builtin_mul_overflow(numel, spec.sizes[d], &numel)) {
      bad("tensor size/stride overflow");
    }
  }
  if (offset > storage.view_numel || (!empty && last >= storage.view_numel)) {
    bad("a tensor view reaches past its storage of " + std::to_string(storage.view_numel) + " elements");
  }
  spec.offset = storage.view_offset + offset;
  return spec;
}

void Unpickler::reduce() {
  ValuePtr args = pop();
  ValuePtr callable = pop();
  if (args->kind != Kind::tuple) bad("REDUCE with " + describe(*args) + " as arguments");
  if (callable->kind != Kind::global || callable->storage_dtype != at::ScalarType::Undefined) {
    bad("REDUCE calls " + describe(*callable));
  }
  if (callable->text == "collections.OrderedDict") {
    if (!args->items.empty()) bad("OrderedDict built from arguments");
    stack_.push_back(make(Kind::dict));
    return;
  }
  ValuePtr t = make(Kind::tensor);
  t->tensor = rebuild_tensor(args->items);
  stack_.push_back(t);
}

void Unpickler::persistent_load() {
  ValuePtr pid = pop();
  const auto& f = pid->items;
  const size_t fields = format_ == Format::zip ? 5 : 6;
  if (pid->kind != Kind::tuple || f.size() != fields || f[0]->kind != Kind::string || f[0]->text != "storage" ||
      f[1]->kind != Kind::global || f[1]->storage_dtype == at::ScalarType::Undefined ||
      f[2]->kind != Kind::string || f[3]->kind != Kind::string || f[4]->kind != Kind::integer ||
      f[4]->integer < 0) {
    bad(format_ == Format::zip
            ? "a persistent id that is not ('storage', torch.<T>Storage, key, location, numel)"
            : "a persistent id that is not ('storage', torch.<T>Storage, key, location, numel, view)");
  }
  const std::string& key = f[2]->text;
  const StorageDecl decl{f[1]->storage_dtype, f[4]->integer};
  auto [it, inserted] = storages_.emplace(key, decl);
  if (!inserted && (it->second.dtype != decl.dtype || it->second.numel != decl.numel)) {
    bad("storage " + key + " is referenced with two different types or sizes");
  }
  ValuePtr s = make(Kind::storage);
  s->storage_key = key;
  s->view_numel = decl.numel;
  if (fields == 6 && f[5]->kind != Kind::none) {
    // (view_key, offset, view_numel), in elements: the tensor lives in a slice of the root storage.
    const Value& view = *f[5];
    if (view.kind != Kind::tuple || view.items.size() != 3 || view.items[1]->kind != Kind::integer ||
        view.items[2]->kind != Kind::integer || view.items[1]->integer < 0 || view.items[2]->integer < 0 ||
        view.items[1]->integer > decl.numel || view.items[2]->integer > decl.numel - view.items[1]->integer) {
      bad("a storage view that is not (key, offset, numel) inside storage " + key);
    }
    s->view_offset = view.items[1]->integer;
    s->view_numel = view.items[2]->integer;
  }
  stack_.push_back(s);
}

ValuePtr Unpickler::next() {
  stack_.clear();
  marks_.clear();
  memo_.clear();
  for (;;) {
    pos_ = position();
    unsigned char op = *take(1);
    switch (op) {
      case 0x80: {  // PROTO
        unsigned v = *take(1);
        if (v < 2 || v > 5) bad("pickle protocol " + std::to_string(v));
        break;
      }
      case 0x95: take(8); break;  // FRAME: a length hint only
      case 'c': {
        std::string module = read_line();
        push_global(module, read_line());
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        ValuePtr name = pop(), module = pop();
        if (name->kind != Kind::string || module->kind != Kind::string) bad("STACK_GLOBAL without two strings");
        push_global(module->text, name->text);
        break;
      }
      case '}': stack_.push_back(make(Kind::dict)); break;
      case ')': push_tuple({}); break;
      case ']': stack_.push_back(make(Kind::list)); break;
      case '(': marks_.push_back(stack_.size()); break;
      case 't': push_tuple(pop_mark()); break;
      case 0x85: {
        ValuePtr a = pop();
        push_tuple({a});
        break;
      }
      case 0x86: {
        ValuePtr b = pop(), a = pop();
        push_tuple({a, b});
        break;
      }
      case 0x87: {
        ValuePtr c = pop(), b = pop(), a = pop();
        push_tuple({a, b, c});
        break;
      }
      case 'q': memo_put(read_le(1)); break;
      case 'r': memo_put(read_le(4)); break;
      case 0x94: memo_put(memo_.size()); break;
      case 'h': memo_get(read_le(1)); break;
      case 'j': memo_get(read_le(4)); break;
      case 'J': push_int(static_cast<int32_t>(static_cast<uint32_t>(read_le(4)))); break;
      case 'K': push_int(static_cast<int64_t>(read_le(1))); break;
      case 'M': push_int(static_cast<int64_t>(read_le(2))); break;
      case 0x8a: {  // LONG1: little-endian two's complement of n bytes
        size_t n = *take(1);
        if (n > 8) {  // only the legacy magic number is this wide; kept as its bytes
          ValuePtr big = make(Kind::big_integer);
          big->text = read_bytes(n);
          stack_.push_back(big);
          break;
        }
        uint64_t v = n ? read_le(n) : 0;
        if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);
        push_int(static_cast<int64_t>(v));
        break;
      }
      case 'X': push_string(read_bytes(read_le(4))); break;
      case 0x8c: push_string(read_bytes(read_le(1))); break;
      case 'U':  // SHORT_BINSTRING, BINSTRING: Python 2's str, in files saved by Python 2 (legacy only)
      case 'T':
        if (format_ != Format::legacy) bad("unsupported pickle opcode " + opcode_name(op));
        push_string(read_bytes(read_le(op == 'U' ? 1 : 4)));
        break;
      case 0x88:
      case 0x89: {
        ValuePtr b = make(Kind::boolean);
        b->flag = op == 0x88;
        stack_.push_back(b);
        break;
      }
      case 'N': stack_.push_back(make(Kind::none)); break;
      case 'R': reduce(); break;
      case 'Q': persistent_load(); break;
      case 's': {
        ValuePtr value = pop(), key = pop();
        set_items(top(), {key, value});
        break;
      }
      case 'u': {
        std::vector<ValuePtr> kv = pop_mark();
        set_items(top(), kv);
        break;
      }
      case 'b': {  // BUILD: only OrderedDict's _metadata attribute, which we do not need
        ValuePtr state = pop();
        if (top()->kind != Kind::dict || state->kind != Kind::dict) {
          bad("BUILD on " + describe(*top()) + " (only an OrderedDict's _metadata is accepted)");
        }
        break;
      }
      case 'a': {
        ValuePtr item = pop();
        if (top()->kind != Kind::list) bad("APPEND to " + describe(*top()));
        top()->items.push_back(item);
        break;
      }
      case 'e': {
        std::vector<ValuePtr> items = pop_mark();
        if (top()->kind != Kind::list) bad("APPENDS to " + describe(*top()));
        for (ValuePtr& i : items) top()->items.push_back(i);
        break;
      }
      case '.': {
        if (stack_.size() != 1 || !marks_.empty()) bad("STOP with a malformed stack");
        return stack_.back();
      }
      default: bad("unsupported pickle opcode " + opcode_name(op));
    }
  }
}

// The dict of tensors a state_dict pickle must hold.
PickledDict to_state_dict(const Value& top, const Unpickler& machine, const std::string& source) {
  if (top.kind != Kind::dict) fail(source + ": the file holds " + describe(top) + ", not a dict of tensors" + kExpected);
  PickledDict out;
  std::set<std::string> seen;
  for (const auto& [key, value] : top.entries) {
    if (key->kind != Kind::string) fail(source + ": the dict has a key that is " + describe(*key) + kExpected);
    if (value->kind != Kind::tensor) {
      fail(source + ": entry '" + key->text + "' is " + describe(*value) + ", not a tensor" + kExpected);
    }
    if (!seen.insert(key->text).second) fail(source + ": entry '" + key->text + "' appears twice" + kExpected);
    out.tensors.emplace_back(key->text, value->tensor);
  }
  out.storages = machine.storages();
  return out;
}

const Value* dict_get(const Value& dict, const std::string& key) {
  for (const auto& [k, v] : dict.entries) {
    if (k->kind == Kind::string && k->text == key) return v.get();
  }
  return nullptr;
}

}  // namespace

PickledDict unpickle_zip_state_dict(const char* data, size_t size, const std::string& source) {
  Unpickler machine(data, size, Format::zip, source);
  ValuePtr top = machine.next();
  if (machine.position() != size) machine.bad("bytes follow the pickle's STOP");
  return to_state_dict(*top, machine, source);
}

bool is_legacy_stream(const char* head, size_t n) {
  return n >= sizeof kLegacyMagic && std::memcmp(head, kLegacyMagic, sizeof kLegacyMagic) == 0;
}

LegacyStream unpickle_legacy_stream(const char* data, size_t size, const std::string& source) {
  Unpickler machine(data, size, Format::legacy, source);
  ValuePtr magic = machine.next();
  if (!is_legacy_stream(data, size) || magic->kind != Kind::big_integer) machine.bad("no legacy magic number");
  ValuePtr version = machine.next();
  if (version->kind != Kind::integer || version->integer != kLegacyProtocolVersion) {
    machine.bad("protocol version " + describe(*version) + " instead of 1001");
  }
  ValuePtr info = machine.next();
  const Value* little = info->kind == Kind::dict ? dict_get(*info, "little_endian") : nullptr;
  if (little == nullptr || little->kind != Kind::boolean) machine.bad("a sys-info record without little_endian");
  if (!little->flag) machine.bad("storages saved big-endian");
  ValuePtr top = machine.next();
  LegacyStream out;
  out.dict = to_state_dict(*top, machine, source);
  ValuePtr keys = machine.next();
  if (keys->kind != Kind::list) machine.bad("the storage key list is " + describe(*keys));
  std::set<std::string> listed;
  for (const ValuePtr& k : keys->items) {
    if (k->kind != Kind::string) machine.bad("a storage key that is " + describe(*k));
    if (!listed.insert(k->text).second) machine.bad("storage key " + k->text + " listed twice");
    if (!out.dict.storages.count(k->text)) machine.bad("storage " + k->text + " is listed but no tensor uses it");
    out.storage_keys.push_back(k->text);
  }
  for (const auto& [key, decl] : out.dict.storages) {
    if (!listed.count(key)) machine.bad("storage " + key + " is used but not listed");
  }
  out.storages_begin = machine.position();
  return out;
}

StateDict materialize(const PickledDict& dict, const std::map<std::string, at::Tensor>& storages) {
  StateDict out;
  out.reserve(dict.tensors.size());
  for (const auto& [name, spec] : dict.tensors) {
    const at::Tensor& flat = storages.at(spec.storage);
    // clone: views of one storage must not alias each other once handed out as parameters.
    out.emplace_back(name, flat.as_strided(spec.sizes, spec.strides, spec.offset).clone(at::MemoryFormat::Contiguous));
  }
  return out;
}

namespace {

// ---- writing ---------------------------------------------------------------------------------------

class Pickler {
 public:
  void op(unsigned char c) { out_.push_back(static_cast<char>(c)); }
  void le(uint64_t v, size_t n) {
    for (size_t i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void global(const std::string& module, const std::string& name) {
    op('c');
    out_ += module + "\n" + name + "\n";
  }
  void string(const std::string& s) {
    op('X');
    le(s.size(), 4);
    out_ += s;
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      op('K');
      le(v, 1);
    } else if (v >= 0 && v < 65536) {
      op('M');
      le(v, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      op('J');
      le(static_cast<uint32_t>(static_cast<int32_t>(v)), 4);
    } else {
      op(0x8a);
      le(8, 1);
      le(static_cast<uint64_t>(v), 8);
    }
  }
  void int_tuple(at::IntArrayRef values) {
    if (values.empty()) {
      op(')');
      return;
    }
    op('(');
    for (int64_t v : values) integer(v);
    op('t');
  }
  std::string& out() { return out_; }

 private:
  std::string out_;
};

}  // namespace

std::string storage_type_name(at::ScalarType dtype) {
  for (const auto& [name, type] : storage_types()) {
    if (type == dtype) return name;
  }
  fail(std::string("tensors of dtype ") + c10::toString(dtype) + " cannot be stored in a state_dict file");
}

std::string pickle_state_dict(const StateDict& dict) {
  Pickler p;
  p.op(0x80);
  p.le(2, 1);
  p.global("collections", "OrderedDict");
  p.op(')');
  p.op('R');
  if (!dict.empty()) p.op('(');
  for (size_t i = 0; i < dict.size(); ++i) {
    const at::Tensor& t = dict[i].second;
    p.string(dict[i].first);
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.op('(');
    p.op('(');  // persistent id of the storage
    p.string("storage");
    p.global("torch", storage_type_name(t.scalar_type()) + "Storage");
    p.string(std::to_string(i));
    p.string("cpu");
    p.integer(t.numel());
    p.op('t');
    p.op('Q');
    p.integer(0);
    p.int_tuple(t.sizes());
    std::vector<int64_t> strides(t.dim());
    int64_t step = 1;
    for (int64_t d = t.dim() - 1; d >= 0; --d) {
      strides[d] = step;
      step *= std::max<int64_t>(t.size(d), 1);
    }
    p.int_tuple(strides);
    p.op(0x89);  // requires_grad False
    p.global("collections", "OrderedDict");  // backward hooks: empty
    p.op(')');
    p.op('R');
    p.op('t');
    p.op('R');
  }
  if (!dict.empty()) p.op('u');
  p.op('.');
  return std::move(p.out());
}

}  // namespace p2p::detail
