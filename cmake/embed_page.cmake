# cmake -DIN=page.html -DOUT=page.cpp -P embed_page.cmake: the page as a C++ string (p2p::serve::page_html).
file(READ ${IN} html)
string(FIND "${html}" ")P2PPAGE\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter )P2PPAGE\"")
endif()
file(WRITE ${OUT}.tmp "// Generated from src/p2p/serve/page.html by cmake/embed_page.cmake; edit the HTML.\n"
     "#include \"p2p/serve/page.h\"\n\nnamespace p2p::serve {\n\nstd::string_view page_html() {\n"
     "  static const char kPage[] = R\"P2PPAGE(${html})P2PPAGE\";\n  return {kPage, sizeof(kPage) - 1};\n}\n\n}  // namespace p2p::serve\n")
file(RENAME ${OUT}.tmp ${OUT})
