// Discriminator feature matching (pix2pixHD, Wang et al. 2018): G is also asked to reproduce D's
// intermediate activations on the real pair, a denser and steadier signal than D's final verdict.
#pragma once

#include <ATen/Tensor.h>

#include <vector>

namespace p2p {

// fake_feats[s] / real_feats[s]: what D scale s returned for the fake / real pair, its intermediate
// feature maps in order with the LAST entry being the logits (excluded from the loss). Returns
//   sum_s sum_{j < L_s} (4 / L_s) * (1 / S) * L1(fake_feats[s][j], real_feats[s][j].detach())
// with S scales and L_s = real_feats[s].size() - 1 intermediate maps (pix2pixHD's n_layers_D + 1), L1 a
// mean. No gradient reaches real_feats. Without lambda (the caller multiplies by --lambda_fm).
// Mismatched scale/layer counts or shapes are internal errors (TORCH_CHECK): both come from one D.
at::Tensor feature_matching_loss(const std::vector<std::vector<at::Tensor>>& fake_feats,
                                 const std::vector<std::vector<at::Tensor>>& real_feats);

}  // namespace p2p
