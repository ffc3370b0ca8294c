// Helpers the hub layer's .cpp files share; not part of its interface.
#pragma once

#include <string>

namespace hearth::hub {

std::string lower(std::string s);
std::string upper(std::string s);
// An environment variable's value, "" when unset.
std::string env(const char* name);

}  // namespace hearth::hub
