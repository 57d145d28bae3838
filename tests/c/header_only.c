/* Compiles the header alone under the strictest C11 warnings (FFI.md 3, item 8). */
#include "switchboard.h"

int header_only_dummy(void);

int header_only_dummy(void) { return (int)SB_OK; }
