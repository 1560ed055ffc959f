// Precompiled header (P2P_USE_PCH): the LibTorch headers every module needs, parsed once per build.
// Sources still include the narrow headers they use, so the build works with P2P_USE_PCH=OFF too.
#pragma once
#include <ATen/ATen.h>
#include <torch/nn.h>
#include <torch/optim.h>
#include <torch/serialize.h>
#include <nlohmann/json.hpp>
