// Subcommands of the p2p program. Each registers its flags (through options.h) and a callback that
// runs the library; main() only dispatches and turns errors into messages and exit codes.
#pragma once

#include <CLI/CLI.hpp>

namespace p2p::cli {

void register_train(CLI::App& app);
void register_test(CLI::App& app);
void register_translate(CLI::App& app);
void register_metrics(CLI::App& app);
void register_info(CLI::App& app);
void register_data(CLI::App& app);
void register_bench(CLI::App& app);
void register_report(CLI::App& app);
void register_compare(CLI::App& app);
void register_sweep(CLI::App& app);
void register_launch(CLI::App& app);
void register_export(CLI::App& app);
void register_serve(CLI::App& app);

// Exit status of a run whose work ended early but cleanly (e.g. stopped by a signal).
int& exit_status();

}  // namespace p2p::cli
