/* Second translation unit of the C test program: including the header in two TUs linked
 * together must not define anything twice (wasmtime's double-include test). */
#include "switchboard.h"
#include "switchboard.h" /* the include guard makes a second include harmless */

uint32_t second_tu_abi_version(void);

uint32_t second_tu_abi_version(void) { return SB_ABI_VERSION; }
