// The single Catch2 main shared by every test binary (compiling it once saves ~10 s per binary).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
