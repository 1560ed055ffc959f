// Strict reader and writer for the data.pkl record of torch.save(state_dict) files (see the header).
// The reader is a small pickle machine that knows only the opcodes and globals those files contain, so
// a checkpoint can never make us call arbitrary constructors, and any other file fails with a message
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

// ---- values on the pickle stack ------------------------------------------------------------------

enum class Kind { none, boolean, integer, string, tuple, list, dict, global, tensor };

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Value {
  Kind kind = Kind::none;
  bool flag = false;
  int64_t integer = 0;
  std::string text;                                     // string, or "module.name" of a global
  at::ScalarType storage_dtype = at::ScalarType::Undefined;  // global torch.<T>Storage
  std::vector<ValuePtr> items;                          // tuple, list
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;   // dict (insertion order kept)
  at::Tensor tensor;
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
    case Kind::string: return "a str ('" + v.text + "')";
    case Kind::tuple: return "a tuple";
    case Kind::list: return "a list";
    case Kind::dict: return "a dict";
    case Kind::global: return "the global " + v.text;
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

class Unpickler {
 public:
  Unpickler(const char* data, size_t size, const StorageLoader& load_storage, const std::string& source)
      : begin_(reinterpret_cast<const unsigned char*>(data)), p_(begin_), end_(begin_ + size),
        load_storage_(load_storage), source_(source) {}

  ValuePtr run();

 private:
  [[noreturn]] void bad(const std::string& what) const {
    fail(source_ + ": " + what + " in data.pkl at byte " + std::to_string(pos_) +
         " — expected a PyTorch zip-format state_dict (torch.save(net.state_dict()))");
  }

  const unsigned char* take(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) bad("the pickle ends early (truncated record)");
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
  at::Tensor rebuild_tensor(const std::vector<ValuePtr>& args);
  std::vector<int64_t> int_tuple(const Value& v, const char* what);

  const unsigned char* const begin_;
  const unsigned char* p_;
  const unsigned char* end_;
  size_t pos_ = 0;  // offset of the opcode being executed, for messages
  const StorageLoader& load_storage_;
  const std::string& source_;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, ValuePtr> memo_;
  std::map<std::string, std::pair<at::ScalarType, at::Tensor>> storages_;  // by key: one load per storage
};

void Unpickler::push_global(const std::string& module, const std::string& name) {
  ValuePtr g = make(Kind::global);
  g->text = module + "." + name;
  if (module == "torch" && name.size() > 7 && name.compare(name.size() - 7, 7, "Storage") == 0) {
    auto it = storage_types().find(name.substr(0, name.size() - 7));
    if (it == storage_types().end()) bad("unsupported storage type torch." + name);
    g->storage_dtype = it->second;
  } else if (g->text != "collections.OrderedDict" && g->text != "torch._utils._rebuild_tensor_v2") {
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

at::Tensor Unpickler::rebuild_tensor(const std::vector<ValuePtr>& args) {
  // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  if (args.size() != 6 && args.size() != 7) bad("_rebuild_tensor_v2 with " + std::to_string(args.size()) + " arguments");
  if (args[0]->kind != Kind::tensor) bad("_rebuild_tensor_v2 over " + describe(*args[0]) + " instead of a storage");
  if (args[1]->kind != Kind::integer || args[1]->integer < 0) bad("tensor storage offset is " + describe(*args[1]));
  const at::Tensor& storage = args[0]->tensor;
  int64_t offset = args[1]->integer;
  std::vector<int64_t> size = int_tuple(*args[2], "size");
  std::vector<int64_t> stride = int_tuple(*args[3], "stride");
  if (size.size() != stride.size()) bad("tensor size and stride have different lengths");
  // The view must stay inside its storage; checked with overflow-safe arithmetic since sizes come
  // from the file.
  int64_t numel = 1, last = offset;
  bool empty = false;
  for (size_t d = 0; d < size.size(); ++d) {
    if (size[d] == 0) empty = true;
    int64_t step = 0;
    if (__builtin_mul_overflow(size[d] == 0 ? 0 : size[d] - 1, stride[d], &step) ||
        __builtin_add_overflow(last, step, &last) || __builtin_mul_overflow(numel, size[d], &numel)) {
      bad("tensor size/stride overflow");
    }
  }
  if (offset > storage.numel() || (!empty && last >= storage.numel())) {
    bad("a tensor view reaches past its storage of " + std::to_string(storage.numel()) + " elements");
  }
  // clone: views of one storage must not alias each other once handed out as parameters.
  return storage.as_strided(size, stride, offset).clone(at::MemoryFormat::Contiguous);
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
  if (pid->kind != Kind::tuple || f.size() != 5 || f[0]->kind != Kind::string || f[0]->text != "storage" ||
      f[1]->kind != Kind::global || f[1]->storage_dtype == at::ScalarType::Undefined ||
      f[2]->kind != Kind::string || f[3]->kind != Kind::string || f[4]->kind != Kind::integer ||
      f[4]->integer < 0) {
    bad("a persistent id that is not ('storage', torch.<T>Storage, key, location, numel)");
  }
  const std::string& key = f[2]->text;
  at::ScalarType dtype = f[1]->storage_dtype;
  auto it = storages_.find(key);
  if (it == storages_.end()) {
    at::Tensor flat = load_storage_(key, dtype, f[4]->integer);
    it = storages_.emplace(key, std::make_pair(dtype, flat)).first;
  } else if (it->second.first != dtype || it->second.second.numel() != f[4]->integer) {
    bad("storage " + key + " is referenced with two different types or sizes");
  }
  ValuePtr s = make(Kind::tensor);
  s->tensor = it->second.second;
  stack_.push_back(s);
}

ValuePtr Unpickler::run() {
  for (;;) {
    pos_ = p_ - begin_;
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
        if (n > 8) bad("an integer wider than 64 bits");
        uint64_t v = n ? read_le(n) : 0;
        if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);
        push_int(static_cast<int64_t>(v));
        break;
      }
      case 'X': push_string(read_bytes(read_le(4))); break;
      case 0x8c: push_string(read_bytes(read_le(1))); break;
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

StateDict unpickle_state_dict(const char* data, size_t size, const StorageLoader& load_storage,
                              const std::string& source) {
  Unpickler machine(data, size, load_storage, source);
  ValuePtr top = machine.run();
  const std::string expected = " — expected a PyTorch zip-format state_dict (torch.save(net.state_dict()))";
  if (top->kind != Kind::dict) fail(source + ": the file holds " + describe(*top) + ", not a dict of tensors" + expected);
  StateDict dict;
  std::set<std::string> seen;
  for (const auto& [key, value] : top->entries) {
    if (key->kind != Kind::string) fail(source + ": the dict has a key that is " + describe(*key) + expected);
    if (value->kind != Kind::tensor) {
      fail(source + ": entry '" + key->text + "' is " + describe(*value) + ", not a tensor" + expected);
    }
    if (!seen.insert(key->text).second) fail(source + ": entry '" + key->text + "' appears twice" + expected);
    dict.emplace_back(key->text, value->tensor);
  }
  return dict;
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
