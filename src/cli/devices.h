// What `hearth devices` prints (CPU, memory, instruction sets, backends), for `hearth setup` too.
#pragma once

namespace hearth::cli {

void print_devices();

}  // namespace hearth::cli
