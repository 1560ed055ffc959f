// NumPy's array files: .npy (one array: a magic string, a Python-dict header giving dtype, memory order
// and shape, then the raw elements) and .npz (a zip of name.npy entries, as numpy.savez and
// numpy.savez_compressed write them). Used for feature statistics shared with pytorch-fid (mu, sigma).
// Only plain numeric dtypes are read; object arrays (pickles) are refused, so no code runs on load.
#pragma once

#include <ATen/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace p2p {

// Arrays by name, in file order; names carry no ".npy" suffix (numpy's np.load(...)["mu"]).
using NpzArrays = std::vector<std::pair<std::string, at::Tensor>>;

// Reads an .npz written by numpy.savez (stored entries) or numpy.savez_compressed (deflated), checking
// every entry's CRC-32. Dtypes: float16/32/64, int8..int64, uint8, bool, little- or big-endian, C or
// Fortran order (returned contiguous in C order). A missing, truncated or damaged file, an entry that
// is not .npy or an unsupported dtype throws p2p::Error naming the file (and the entry).
NpzArrays read_npz(const std::string& path);

// Writes `arrays` as an uncompressed .npz (readable by numpy.load), contiguous CPU copies of each,
// atomically. Names must be non-empty and unique; dtypes as read_npz reads.
void write_npz(const std::string& path, const NpzArrays& arrays);

// The array named `name` in `arrays`; throws p2p::Error naming `source` and the names present if absent.
const at::Tensor& npz_get(const NpzArrays& arrays, const std::string& name, const std::string& source);

// One .npy file (same dtypes and errors as above).
at::Tensor read_npy(const std::string& path);
void write_npy(const std::string& path, const at::Tensor& array);

// .npy bytes <-> array; `what` names the source in errors ("stats.npz: entry mu.npy").
at::Tensor parse_npy(const std::string& bytes, const std::string& what);
std::string format_npy(const at::Tensor& array);

}  // namespace p2p
