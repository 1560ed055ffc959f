// Text for a terminal: progress bars, durations, the terminal's width. Shared by training's progress
// line and batch translation's.
#pragma once

#include <cstdint>
#include <string>

namespace p2p {

// "[=========>          ]" of `width` characters (brackets included) for done/total.
std::string progress_bar(int64_t done, int64_t total, int width);

// "4m05s", "1h02m03s"; "?" for negative, non-finite or absurd values.
std::string format_seconds(double s);

// 1234567 -> "1,234,567" (parameter and image counts on start lines).
std::string with_commas(int64_t n);

// Columns of the terminal on stderr (80 when it does not say or is not a terminal).
int terminal_width();

bool stderr_is_terminal();

}  // namespace p2p
