// Network summaries for `p2p info` (see info.h).
#include "p2p/models/info.h"

#include "p2p/core/error.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/utils.h>

#include <string>
#include <utility>

namespace p2p {

NetworkSummary summarize_network(Network& net, int64_t in_channels, int64_t height, int64_t width) {
  const std::string size = std::to_string(height) + "x" + std::to_string(width);
  if (in_channels <= 0 || height <= 0 || width <= 0) {
    fail("summarize_network: input " + std::to_string(in_channels) + "x" + size + " must be positive");
  }
  const int64_t multiple = net.size_multiple();
  if (height % multiple != 0 || width % multiple != 0) {
    fail("input size " + size + " is not a multiple of " + std::to_string(multiple) +
         ", which this network needs (pick a crop size that is)");
  }

  NetworkSummary summary;
  summary.parameters = count_parameters(net);

  // Remember each module's own flag: train()/eval() recurse, so restoring parents first and then
  // children (the pre-order of modules()) reproduces any mixed setting exactly.
  std::vector<std::pair<std::shared_ptr<torch::nn::Module>, bool>> modes;
  for (const auto& m : net.modules(/*include_self=*/false)) modes.emplace_back(m, m->is_training());
  const bool self_training = net.is_training();

  at::TensorOptions options = at::TensorOptions().dtype(at::kFloat);
  const auto params = net.parameters();
  if (!params.empty()) options = options.device(params.front().device()).dtype(params.front().scalar_type());

  net.eval();
  MacCounter counter;
  at::Tensor out;
  try {
    torch::NoGradGuard no_grad;
    out = net.forward_counting(at::zeros({1, in_channels, height, width}, options), counter);
  } catch (const c10::Error& e) {
    net.train(self_training);
    for (auto& [m, training] : modes) m->train(training);
    fail("input " + std::to_string(in_channels) + "x" + size + " does not fit this network: " +
         e.what_without_backtrace());
  }
  net.train(self_training);
  for (auto& [m, training] : modes) m->train(training);

  summary.output_shape = out.sizes().vec();
  summary.gmacs = counter.macs / 1e9;
  return summary;
}

int64_t attention_parameter_count(const torch::nn::Module& net) {
  int64_t total = 0;
  for (const auto& p : net.named_parameters(/*recurse=*/true)) {
    if (p.key().find("att_") != std::string::npos) total += p.value().numel();
  }
  return total;
}

}  // namespace p2p
