// p2p: paired image-to-image translation (pix2pix) — train, test, translate, metrics, info, data, bench.
#include "cli/commands.h"
#include "cli/options.h"

#include "p2p/core/build_info.h"
#include "p2p/core/cpu_features.h"
#include "p2p/core/error.h"
#include "p2p/core/runtime.h"

#include <c10/util/Exception.h>

#include <iostream>

int main(int argc, char** argv) {
  p2p::keep_freed_memory();  // before any large allocation (core/runtime.h)
  CLI::App app{"pix2pix.cpp: paired image-to-image translation with conditional GANs", "p2p"};
  app.require_subcommand(1);
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // as argparse: last one wins
  const std::string git = p2p::git_revision();
  app.set_version_flag("--version", std::string("p2p ") + p2p::program_version() + (git.empty() ? "" : " (" + git + ")") +
                                        ", LibTorch " + p2p::libtorch_version());
  p2p::cli::register_train(app);
  p2p::cli::register_test(app);
  p2p::cli::register_translate(app);
  p2p::cli::register_metrics(app);
  p2p::cli::register_info(app);
  p2p::cli::register_data(app);
  p2p::cli::register_bench(app);
  p2p::cli::register_report(app);
  p2p::cli::register_compare(app);
  p2p::cli::register_sweep(app);
  p2p::cli::register_launch(app);
  p2p::cli::register_export(app);
  p2p::cli::register_serve(app);
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    std::string names;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      known = known || sub->get_name() == argv[1];
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      std::cerr << "p2p: unknown command '" << argv[1] << "' (expected one of " << names << ")\n";
      return 2;
    }
  }
  if (const std::string unknown = p2p::cli::unknown_option_message(app, argc, argv); !unknown.empty()) {
    std::cerr << unknown << "\n";
    return 2;
  }
  try {
    p2p::cpu_isa();  // a bad P2P_CPU_ISA stops every command here, not midway through one
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error (bad value, missing or unknown option) exits 2,
    // as the checks before parsing do, not with CLI11's own codes (105, 106, ...).
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const p2p::Diverged& e) {
    std::cerr << "p2p: training stopped: " << e.what() << "\n";
    return 3;
  } catch (const p2p::Error& e) {
    std::cerr << "p2p: error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "p2p: error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "p2p: error: " << e.what() << "\n";
    return 1;
  }
  return p2p::cli::exit_status();
}
