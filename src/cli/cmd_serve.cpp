// `p2p serve`: trained generators behind an HTTP API and a drawing page (src/p2p/serve). Models are
// loaded as `p2p translate` loads them (--name/--weights, --epoch, --eval, architecture flags), so a
// reply equals what translate writes for the same image and options.
#include "cli/commands.h"
#include "cli/generator_flags.h"
#include "cli/options.h"

#include "p2p/core/error.h"
#include "p2p/core/runtime.h"
#include "p2p/io/fs.h"
#include "p2p/serve/server.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>

namespace fs = std::filesystem;

namespace p2p::cli {

namespace {

// "ALIAS=WHAT" -> {ALIAS, WHAT}; "WHAT" -> {"", WHAT}.
std::pair<std::string, std::string> split_alias(const std::string& spec) {
  const size_t eq = spec.find('=');
  if (eq == std::string::npos) return {"", spec};
  return {spec.substr(0, eq), spec.substr(eq + 1)};
}

std::string read_token_file(const std::string& path) {
  std::ifstream f(path);
  std::string token;
  if (!f || !std::getline(f, token)) fail("--token_file " + path + ": cannot read a token from it");
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ' || token.back() == '\t')) token.pop_back();
  if (token.empty()) fail("--token_file " + path + ": the first line is empty; write the token there");
  return token;
}

}  // namespace

void register_serve(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "serve trained generators over HTTP: an API and a drawing page");
  auto net = std::make_shared<NetConfig>();
  auto ref = std::make_shared<ModelRef>();
  auto rt = std::make_shared<RuntimeOptions>();
  auto test = std::make_shared<TestConfig>();
  auto tiles = std::make_shared<TileOptions>();
  auto serve = std::make_shared<ServeCli>();
  add_generator_options(*cmd, *net);
  add_serve_options(*cmd, *serve);
  add_generator_choice_options(*cmd, *ref, /*direction=*/true, /*model_suffix=*/false);
  add_inference_options(*cmd, *test);
  add_tile_options(*cmd, *tiles);
  add_runtime_options(*cmd, *rt);
  add_precision_option(*cmd, rt->precision);
  cmd->callback([=] {
    serve::install_stop_handlers();  // a SIGTERM while models load stops the server once it is up
    if (serve->names.empty() && serve->weights.empty()) fail("--name or --weights: name at least one model to serve");
    serve::ServeOptions options = serve->server;
    if (!serve->token_file.empty()) {
      if (!options.token.empty()) fail("--token and --token_file both give a token: give one of them");
      options.token = read_token_file(serve->token_file);
    }
    const c10::Device device = setup_runtime(*rt, std::cerr);
    const auto choice = chosen_generator(*cmd, *ref, /*direction=*/true);
    std::vector<std::unique_ptr<serve::ServedModel>> models;
    std::set<std::string> seen;
    const auto add = [&](const std::string& spec, bool is_weights) {
      auto [alias, what] = split_alias(spec);
      if (what.empty()) fail(std::string(is_weights ? "--weights" : "--name") + " '" + spec + "': nothing after '='");
      ModelRef r = *ref;
      r.checkpoints_dir = serve->checkpoints_dir;
      r.name = is_weights ? "" : what;
      r.weights = is_weights ? what : "";
      if (is_weights && !fs::is_regular_file(what)) fail("--weights " + what + ": no such file");
      const std::string name = !alias.empty() ? alias : is_weights ? fs::path(what).stem().string() : fs::path(what).filename().string();
      if (!seen.insert(name).second) {
        fail("two models are named '" + name + "': name them apart with ALIAS=" + std::string(is_weights ? "FILE" : "RUN"));
      }
      LoadedGenerator g = load_from_flags(*cmd, *net, r, test->epoch, choice);
      std::string source;
      nlohmann::json palette = serve::page_palette(serve->palette, g, source, std::cerr);
      const int64_t size = tiles->tile > 0 ? tiles->tile : generator_data_config(g).crop_size;
      CalibrationWorkload work{false, g.net, size, 1};
      const Precision precision = setup_precision(rt->precision, device, work, std::cerr);  // per model (auto)
      if (models.empty()) setup_blas_threads(*rt, device, work, std::cerr);
      auto m = serve::make_served_model(name, std::move(g), device, test->eval, *tiles, test->seed, precision);
      m->palette = std::move(palette);
      m->palette_source = source;
      std::cerr << "model " << m->name << ": " << m->g.net.netG << " from " << m->g.weights << (test->eval ? ", --eval" : "") << ", "
                << precision_name(m->precision)
                << (m->shareable ? "; concurrent requests share forward passes"
                                 : "; requests run one at a time (batch statistics or dropout: the paper's test mode; "
                                   "--eval batches them)")
                << "\n";
      models.push_back(std::move(m));
    };
    for (const auto& s : serve->names) add(s, false);
    for (const auto& s : serve->weights) add(s, true);
    if (!options.token.empty() && options.host != "127.0.0.1" && options.host != "localhost" && options.host != "::1") {
      std::cerr << "note: the token travels in clear text over HTTP; put a TLS proxy in front for other machines\n";
    } else if (options.token.empty() && options.host != "127.0.0.1" && options.host != "localhost" && options.host != "::1") {
      std::cerr << "warning: --host " << options.host << " without --token: anyone who reaches this port can use the model\n";
    }
    if (options.batch_wait_ms < 0) options.batch_wait_ms = device.is_cuda() ? 5 : 0;
    serve::ServeMetrics metrics;
    serve::ModelService service(std::move(models), {options.max_batch, options.batch_wait_ms}, metrics);
    serve::run_server(service, metrics, options, std::cout, std::cerr);
  });
}

}  // namespace p2p::cli
