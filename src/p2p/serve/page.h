// The drawing page served at GET / (page.html, embedded at build time): plain HTML and JavaScript that
// talk to the API of the same server and fetch nothing from other hosts.
#pragma once

#include <string_view>

namespace p2p::serve {

std::string_view page_html();

}  // namespace p2p::serve
