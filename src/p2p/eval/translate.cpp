// `p2p translate` (translate.h): inputs collected from a file, folder or list, each read as a raster,
// translated (tiled per the options) and written with its type and georeferencing kept.
#include "p2p/eval/translate.h"

#include "p2p/core/console.h"
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/data/normalization.h"
#include "p2p/eval/batch.h"
#include "p2p/eval/inference.h"
#include "p2p/io/fs.h"
#include "p2p/io/image.h"
#include "p2p/io/raster.h"
#include "p2p/io/tiff.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace p2p {

using detail::one_item;
using detail::output_extension;
using detail::png_channels;

namespace {

bool is_list_file(const std::string& path) {
  const std::string ext = lower_extension(path);
  return ext == ".txt" || ext == ".lst" || ext == ".list";
}

// The output raster is created at the first write, when G's channel count is known; it must agree with
// the extension chosen from output_nc before anything was written.
// A TIFF input's declared nodata is declared again in a TIFF output, and the output pixels whose input
// was nodata in any band (re-read from `nodata_from`) hold it, instead of G's answer to the fill.
class OutputRaster : public RasterWriter {
 public:
  OutputRaster(std::string path, const RasterInfo& in, int output_nc, std::string georef_from,
               RasterReader* nodata_from = nullptr)
      : path_(std::move(path)), in_(in), output_nc_(output_nc), georef_from_(std::move(georef_from)),
        nodata_from_(in.has_nodata && is_tiff_file(path_) && is_tiff_file(georef_from_) ? nodata_from : nullptr) {}
  void write(int64_t x, int64_t y, const at::Tensor& values) override {
    if (nodata_from_) {
      const at::Tensor mask = nodata_from_->read(x, y, values.size(2), values.size(1)).isnan().any(0);
      if (mask.any().item<bool>()) {
        write_values(x, y, values.masked_fill(mask.unsqueeze(0), nodata_unit()));
        return;
      }
    }
    write_values(x, y, values);
  }
  void finish() override {
    if (!raster_) fail("nothing was translated for " + path_);
    raster_->finish();
  }

 private:
  // The declared nodata sample in the unit range of the output's type, so the writer stores it exactly.
  double nodata_unit() const {
    const double v = in_.nodata;
    switch (in_.type) {
      case SampleType::u8: return v / 255.0;
      case SampleType::u16: return v / 65535.0;
      case SampleType::i16: return (v + 32768.0) / 65535.0;
      case SampleType::f32: break;
    }
    return v;
  }
  void write_values(int64_t x, int64_t y, const at::Tensor& values) {
    if (!raster_) {
      const int64_t c = values.size(0);
      if (png_channels(output_nc_) ? !png_channels(c) : c != output_nc_) {
        fail("the generator produces " + std::to_string(c) + " channels but --output_nc is " + std::to_string(output_nc_));
      }
      RasterSpec spec;
      spec.width = in_.width;
      spec.height = in_.height;
      spec.bands = static_cast<int>(c);
      // A TIFF output keeps the input's sample type; a TIFF from a colour file holds floats.
      spec.type = is_tiff_file(georef_from_) ? in_.type : SampleType::f32;
      spec.has_nodata = nodata_from_ != nullptr;
      spec.nodata = in_.nodata;
      raster_ = create_raster(path_, spec, georef_from_);
    }
    raster_->write(x, y, values);
  }

  std::string path_;
  RasterInfo in_;
  int output_nc_;
  std::string georef_from_;
  RasterReader* nodata_from_;
  std::unique_ptr<RasterWriter> raster_;
};

// One line per file in logs; on a terminal one line redrawn in place (files done, the current file's
// tiles, ETA). Failures are printed on lines of their own by one_item.
class BatchProgress {
 public:
  BatchProgress(std::ostream& log, bool live, int64_t total)
      : log_(log), live_(live), total_(total), width_(static_cast<size_t>(std::max(20, terminal_width() - 1))) {}
  void tile(int64_t index, const std::string& file, int64_t done, int64_t tiles) {
    if (!live_) return;
    const double elapsed = seconds();
    const double per_file = index > 0 ? elapsed / static_cast<double>(index) : -1;
    std::ostringstream line;
    line << progress_bar(index, total_, 22) << " " << index << "/" << total_ << " files";
    if (tiles > 1) line << "  tile " << done << "/" << tiles;
    // The name goes last: a narrow terminal cuts it, not the counts or the ETA.
    line << "  eta " << format_seconds(per_file * static_cast<double>(total_ - index)) << "  "
         << fs::path(file).filename().string();
    std::string text = line.str();
    if (text.size() > width_) text.resize(width_);
    log_ << "\r\033[K" << text << std::flush;
  }
  void clear() {
    if (live_) log_ << "\r\033[K" << std::flush;
  }
  void done(int64_t index, const std::string& file, const std::string& out, double secs) {
    if (live_) return;
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.2f", secs);
    log_ << "[" << index + 1 << "/" << total_ << "] " << file << " -> " << out << " (" << seconds << " s)\n";
  }
  void exists(int64_t index, const std::string& out) {
    if (!live_) log_ << "[" << index + 1 << "/" << total_ << "] " << out << " exists, skipped (--resume)\n";
  }
  void finish() { clear(); }
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::ostream& log_;
  bool live_;
  int64_t total_;
  size_t width_;  // the terminal's columns, asked once
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace

std::vector<std::string> collect_inputs(const std::string& input) {
  std::error_code ec;
  if (fs::is_directory(input, ec)) {
    std::vector<std::string> files = list_images(input);
    if (files.empty()) fail("no image files in folder " + input + " (expected .png, .jpg, .bmp, .tga, .ppm/.pgm, .tif)");
    return files;
  }
  if (!fs::is_regular_file(input, ec)) fail("input not found: " + input + " (expected an image file, a folder of images or a list file)");
  if (is_list_file(input)) {
    std::ifstream in(input);
    if (!in) fail("cannot read list file " + input);
    std::vector<std::string> files;
    const fs::path base = fs::path(input).parent_path();
    std::string line;
    while (std::getline(in, line)) {
      const size_t b = line.find_first_not_of(" \t\r"), e = line.find_last_not_of(" \t\r");
      if (b == std::string::npos || line[b] == '#') continue;
      const fs::path p = line.substr(b, e - b + 1);
      files.push_back(p.is_absolute() ? p.string() : (base / p).lexically_normal().string());
    }
    if (files.empty()) fail("list file " + input + " names no images (one path per line)");
    return files;
  }
  if (!is_image_file(input)) {
    fail(input + " is not an image file (expected .png, .jpg, .bmp, .tga, .ppm/.pgm, .tif) or a list file (.txt)");
  }
  return {input};
}

void translate_file(Network& G, const std::string& input, const std::string& output, const DataConfig& data,
                    const TileOptions& tiles, const c10::Device& device, std::ostream& log,
                    const std::function<void(int64_t, int64_t)>& on_tile, const BatchForward& forward) {
  const auto to_network = [&](const at::Tensor& window) { return input_window_to_network(window, data); };
  check_output_format(output);
  std::error_code ec;
  if (fs::exists(output, ec) && fs::equivalent(input, output, ec)) {
    fail("output " + output + " is the input file " + input + "; writing it would destroy the input");
  }
  std::unique_ptr<RasterReader> in = open_raster(input, data.input_nc, "--input_nc");
  // A second reader re-reads the nodata mask while the output rows are written.
  std::unique_ptr<RasterReader> mask;
  if (in->info().has_nodata) mask = open_raster(input, data.input_nc, "--input_nc");
  OutputRaster out(output, in->info(), data.output_nc, input, mask.get());
  translate_raster(G, *in, out, to_network, tiles, device, log, on_tile, forward);
  out.finish();
}

at::Tensor input_window_to_network(const at::Tensor& window, const DataConfig& data) {
  at::Tensor unit = window;
  if (data.sar_db) {
    double db_lo = 0, db_hi = 0;
    parse_db_range(data.db_range, db_lo, db_hi);
    unit = sar_db_to_unit(window, db_lo, db_hi);  // nodata (NaN) stays NaN
  }
  at::Tensor net = input_to_network(unit, data);
  return net.masked_fill_(net.isnan(), 0.0);  // nodata: the network's 0, as training fills it (normalization.h)
}

void check_output_folder(const std::string& dir, const std::string& flag) {
  if (dir.empty()) fail(flag + " is empty; name the folder to write into (. for the working folder)");
  make_dirs(dir);
  // A file is made and removed, so a folder that cannot be written fails now, with the system's reason,
  // not once per input. Named like a temp file of fs.h, so a killed run's probe is removed as stale.
  const std::string probe = (fs::path(dir) / (".p2p-write-check.tmp." + std::to_string(::getpid()) + ".0")).string();
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(flag + " " + dir + ": cannot write into this folder: " + std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

std::string output_path(const std::string& file, const std::string& output_dir, int output_nc) {
  const char* ext = is_tiff_file(file) ? ".tif" : output_extension(output_nc);
  return (fs::path(output_dir) / (file_stem(file) + ext)).string();
}

TranslateReport run_translate(Network& G, const std::string& input, const std::string& output_dir, int input_nc,
                              const c10::Device& device, std::ostream& log) {
  if (input_nc != 1 && input_nc != 3) {
    fail("--input_nc: translate reads images as 1 (gray) or 3 (RGB) channels, got " + std::to_string(input_nc));
  }
  DataConfig data;
  data.input_nc = input_nc;
  data.output_nc = 3;  // PNG outputs; a gray G's single channel is written as gray PNG
  return run_translate(G, input, output_dir, data, device, log);
}

TranslateReport run_translate(Network& G, const std::string& input, const std::string& output_dir,
                              const DataConfig& data, const c10::Device& device, std::ostream& log,
                              const TranslateOptions& options) {
  if (data.input_nc < 1) fail("--input_nc must be at least 1 (got " + std::to_string(data.input_nc) + ")");
  check_input_statistics(data);
  check_tile_options(options.tiles, G.size_multiple());
  const std::vector<std::string> files = collect_inputs(input);

  // Mistakes of the command itself end it before anything is written: name clashes, and outputs that
  // would replace their own inputs. A bad file only loses that file.
  std::error_code ec;
  std::vector<std::string> outs;
  std::map<std::string, std::string> outputs;  // output path -> input path
  for (const std::string& file : files) {
    outs.push_back(output_path(file, output_dir, data.output_nc));
    auto [it, inserted] = outputs.emplace(outs.back(), file);
    if (!inserted) fail("inputs " + it->second + " and " + file + " would both be written to " + outs.back());
    if (fs::exists(outs.back(), ec) && fs::equivalent(outs.back(), file, ec)) {
      fail("output " + outs.back() + " would overwrite its input; choose another output folder");
    }
  }
  check_output_folder(output_dir, "--output");
  // A run killed while writing leaves its temp files (<out>.tmp.<pid>.<n>); no other run finishes them.
  for (const std::string& name : remove_stale_temp_files(output_dir)) {
    log << "removed " << (fs::path(output_dir) / name).string() << ", left by a translation that did not finish\n";
  }

  TranslateReport report;
  BatchProgress progress(log, options.progress, static_cast<int64_t>(files.size()));
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string& file = files[i];
    const int64_t index = static_cast<int64_t>(i);
    if (options.resume && fs::exists(outs[i], ec)) {
      // Done only if it decodes whole at the input's size: a killed run or a full disk can leave an
      // empty or cut-short file under the final name (outputs are renamed into place, but not synced).
      std::string why;
      int w = 0, h = 0;
      try {
        image_size(file, w, h);
      } catch (const std::exception& e) {
        why = e.what();
      }
      if (why.empty() && raster_decodes(outs[i], w, h, why)) {
        progress.exists(index, outs[i]);
        ++report.skipped;
        continue;
      }
      progress.clear();
      log << "[" << index + 1 << "/" << files.size() << "] " << outs[i] << " exists but is not complete ("
          << why << "); translating again\n";
    }
    const double start = progress.seconds();
    const bool ok = one_item(file, report.failed, log, [&] {
      seed_item(options.seed, fs::path(file).filename().string());
      progress.tile(index, file, 0, 0);
      translate_file(G, file, outs[i], data, options.tiles, device, log,
                     [&](int64_t done, int64_t tiles) { progress.tile(index, file, done, tiles); });
    }, [&] { progress.clear(); });
    if (ok) {
      ++report.written;
      progress.done(index, file, outs[i], progress.seconds() - start);
    }
  }
  progress.finish();
  return report;
}

}  // namespace p2p
