/* Compiles the header alone under the strictest C11 warnings (header hygiene, docs/ABI.md
 * "How the ABI is tested"). */
#include "switchboard.h"

int header_only_dummy(void);

int header_only_dummy(void) { return (int)SB_OK; }
