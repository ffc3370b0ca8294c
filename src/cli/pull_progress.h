// A Hub pull with the progress line on stderr and a one-line summary after it, for `hearth pull` and `hearth setup`.
#pragma once

#include <string>

#include "hub/hub_client.h"

namespace hearth::cli {

hub::PullResult pull_with_progress(const hub::HubRef& ref, const std::string& revision);

}  // namespace hearth::cli
