// The embeddable API (include/pix2pix/pix2pix.h) over the library's modules: a thin layer like the CLI,
// translating the public types and errors to and from the internal ones.
#include <pix2pix/pix2pix.h>

#include "p2p/core/blas_calibration.h"
#include "p2p/core/build_info.h"
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/data/normalization.h"
#include "p2p/eval/generator.h"
#include "p2p/eval/inference.h"
#include "p2p/eval/translate.h"
#include "p2p/eval/tiling.h"
#include "p2p/io/raster.h"
#include "p2p/models/calibration.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <filesystem>
#include <mutex>
#include <new>
#include <sstream>

namespace pix2pix {

namespace {

// Runs `fn`, turning every internal failure into pix2pix::Error.
template <typename Fn>
auto guarded(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Error(e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    throw Error("not enough memory");
  } catch (const std::exception& e) {
    throw Error(e.what());
  }
}

}  // namespace

std::string version() { return p2p::program_version(); }

struct Translator::Impl {
  p2p::LoadedGenerator g;
  p2p::DataConfig data;
  p2p::TileOptions tiles;
  uint64_t seed = 0;
  c10::Device device = c10::Device(c10::kCPU);
  mutable std::mutex mutex;
};

Translator::Translator(const std::string& weights_or_run, const Options& options) : impl_(std::make_unique<Impl>()) {
  guarded([&] {
    if (options.threads < 0) p2p::fail("Options::threads must be >= 0");
    if (options.threads > 0) p2p::configure_threads(options.threads);
    impl_->device = p2p::parse_device(options.device, "Options::device");
    p2p::GeneratorSource source;
    std::error_code ec;
    if (std::filesystem::is_directory(weights_or_run, ec)) {
      source.run_dir = weights_or_run;
    } else {
      source.weights = weights_or_run;
    }
    source.epoch = options.epoch;
    source.generator = options.generator;
    if (!options.generator.empty()) source.generator_flag = "Options::generator " + options.generator;
    impl_->g = p2p::load_generator(source);
    impl_->data = p2p::generator_data_config(impl_->g);
    p2p::check_input_statistics(impl_->data);
    impl_->tiles.tile = options.tile;
    impl_->tiles.overlap = options.overlap;
    impl_->tiles.tile_batch = options.tile_batch;
    p2p::check_tile_options(impl_->tiles, impl_->g.G->size_multiple());
    p2p::Precision precision = p2p::Precision::kFp32;
    if (options.precision == "auto") {
      if (impl_->device.is_cpu()) {
        p2p::CalibrationWorkload work{false, impl_->g.net, impl_->data.crop_size, 1};
        precision = p2p::choose_precision(work, p2p::default_blas_cache_file()).precision;
      }
    } else {
      precision = p2p::parse_fixed_precision(options.precision, impl_->device, "Options::precision");
    }
    p2p::prepare_for_inference(impl_->g, impl_->device, options.eval, precision);
    impl_->seed = options.seed;
  });
}

Translator::~Translator() = default;
Translator::Translator(Translator&&) noexcept = default;
Translator& Translator::operator=(Translator&&) noexcept = default;

int64_t Translator::input_channels() const { return impl_->g.net.input_nc; }
int64_t Translator::output_channels() const { return impl_->g.net.output_nc; }
std::string Translator::architecture() const { return impl_->g.net.netG; }

Image Translator::translate(const Image& input) const {
  return guarded([&] {
    if (input.channels != impl_->g.net.input_nc) {
      p2p::fail("Image::channels is " + std::to_string(input.channels) + " but the generator takes " +
                std::to_string(impl_->g.net.input_nc));
    }
    if (input.width < 1 || input.height < 1) p2p::fail("empty image");
    if (static_cast<int64_t>(input.pixels.size()) != input.width * input.height * input.channels) {
      p2p::fail("Image::pixels holds " + std::to_string(input.pixels.size()) + " values, expected width*height*channels = " +
                std::to_string(input.width * input.height * input.channels));
    }
    const at::Tensor hwc = at::from_blob(const_cast<float*>(input.pixels.data()),
                                         {input.height, input.width, input.channels}, at::kFloat);
    // The buffer seen as a raster and the output assembled in memory: translate() tiles like translate_file.
    p2p::TensorRasterReader in(hwc.permute({2, 0, 1}).contiguous(), p2p::SampleType::f32, 32, "the input image");
    p2p::RasterSpec spec;
    spec.width = input.width;
    spec.height = input.height;
    spec.bands = static_cast<int>(impl_->g.net.output_nc);
    spec.type = p2p::SampleType::f32;
    p2p::TensorRasterWriter out_raster(spec, "the output image");
    std::ostringstream log;  // notes (automatic tiling) are not errors; a library does not print
    {
      std::lock_guard<std::mutex> lock(impl_->mutex);
      p2p::seed_item(impl_->seed, "");  // every call draws alike: the same image gives the same output
      p2p::translate_raster(*impl_->g.G, in, out_raster,
                            [&](const at::Tensor& w) { return p2p::input_window_to_network(w, impl_->data); }, impl_->tiles,
                            impl_->device, log);
    }
    const at::Tensor out = out_raster.image().permute({1, 2, 0}).contiguous();
    Image result;
    result.height = out.size(0);
    result.width = out.size(1);
    result.channels = out.size(2);
    result.pixels.assign(out.data_ptr<float>(), out.data_ptr<float>() + out.numel());
    return result;
  });
}

void Translator::translate_file(const std::string& input, const std::string& output) const {
  guarded([&] {
    std::ostringstream log;  // notes (automatic tiling) are not errors; a library does not print
    std::lock_guard<std::mutex> lock(impl_->mutex);
    p2p::seed_item(impl_->seed, std::filesystem::path(input).filename().string());  // as `p2p translate` draws
    p2p::translate_file(*impl_->g.G, input, output, impl_->data, impl_->tiles, impl_->device, log);
  });
}

}  // namespace pix2pix
