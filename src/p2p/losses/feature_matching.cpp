// Feature-matching loss (see feature_matching.h).
#include "p2p/losses/feature_matching.h"

#include <ATen/ATen.h>

namespace p2p {

at::Tensor feature_matching_loss(const std::vector<std::vector<at::Tensor>>& fake_feats,
                                 const std::vector<std::vector<at::Tensor>>& real_feats) {
  TORCH_CHECK(!fake_feats.empty() && fake_feats.size() == real_feats.size(),
              "feature_matching_loss: need the same, non-zero number of D scales for fake and real, got ",
              fake_feats.size(), " and ", real_feats.size());
  const double scale_weight = 1.0 / static_cast<double>(fake_feats.size());
  at::Tensor total;
  for (size_t s = 0; s < fake_feats.size(); ++s) {
    const auto& fake = fake_feats[s];
    const auto& real = real_feats[s];
    TORCH_CHECK(fake.size() == real.size() && fake.size() >= 2, "feature_matching_loss: scale ", s,
                " needs intermediate features plus logits, the same count for fake and real, got ", fake.size(),
                " and ", real.size());
    const size_t layers = fake.size() - 1;  // the last entry is the logits
    const double weight = 4.0 / static_cast<double>(layers) * scale_weight;
    for (size_t j = 0; j < layers; ++j) {
      TORCH_CHECK(fake[j].sizes() == real[j].sizes(), "feature_matching_loss: scale ", s, " layer ", j,
                  " shapes differ: ", fake[j].sizes(), " vs ", real[j].sizes());
      at::Tensor term = at::l1_loss(fake[j], real[j].detach()) * weight;
      total = total.defined() ? total + term : term;
    }
  }
  return total;
}

}  // namespace p2p
