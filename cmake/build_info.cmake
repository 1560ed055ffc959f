# Script mode (cmake -P), run at every build: writes OUT with the project version and the git revision
# of the checkout being built ("" outside a checkout). configure_file leaves OUT untouched when nothing
# changed, so only the one file including it recompiles after a commit.
#   cmake -DSRC=<source dir> -DOUT=<header> -DVERSION=<x.y.z> -P build_info.cmake
set(P2P_GIT_REVISION "")
find_program(GIT git)
if(GIT AND EXISTS "${SRC}/.git")
  execute_process(COMMAND ${GIT} -C "${SRC}" describe --always --dirty --abbrev=12
                  OUTPUT_VARIABLE P2P_GIT_REVISION OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    set(P2P_GIT_REVISION "")
  endif()
endif()
set(P2P_VERSION "${VERSION}")
file(WRITE "${OUT}.in" "#define P2P_VERSION \"@P2P_VERSION@\"\n#define P2P_GIT_REVISION \"@P2P_GIT_REVISION@\"\n")
configure_file("${OUT}.in" "${OUT}" @ONLY)
