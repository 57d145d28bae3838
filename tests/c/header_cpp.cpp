// The header compiled as C++17 and linked into the C test program (header hygiene,
// docs/ABI.md "How the ABI is tested").
#include "switchboard.h"

#include <type_traits>

static_assert(sizeof(sb_status) == 4, "sb_status is 32 bits");
static_assert(std::is_same<std::underlying_type<sb_status>::type, uint32_t>::value,
              "sb_status is a uint32_t enum");

extern "C" uint32_t cpp_tu_abi_version(void);

extern "C" uint32_t cpp_tu_abi_version(void) { return sb_abi_version(); }
