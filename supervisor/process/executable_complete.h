// Whether an executable file is whole: the check --watch makes before it
// starts a file that may still be being written or copied.
#pragma once

#include <string>

#include "baton/status.h"

namespace baton {

// OK for a #! script, or for an ELF file whose program and section headers,
// and the segments and sections they describe, all lie within the file. An
// error says what is missing ("ends at byte 4096 of 1200344").
Status executable_complete(const std::string& path);

}  // namespace baton
