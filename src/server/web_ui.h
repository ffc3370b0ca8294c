// The chat page `hearth serve` answers at / (docs/server.md, "Web page"): static files from src/server/web/,
// compiled into the binary by cmake/embed_web_assets.cmake. They need no key: the page holds no secrets, and its
// own API calls carry the key the user gives it.
#pragma once

#include <optional>
#include <span>
#include <string_view>

namespace httplib {
class Server;
}

namespace hearth::server {

// One file of src/server/web/, by its name there ("index.html", "app.js").
struct WebAsset {
  std::string_view name;
  std::string_view bytes;
};

// Every embedded file (defined in the generated web_assets.cpp).
std::span<const WebAsset> web_assets();

// What a path of the page answers: "/" is index.html, "/NAME" a file; nullopt for any other path.
struct WebPage {
  std::string_view bytes;
  std::string_view content_type;
};
std::optional<WebPage> web_page(std::string_view path);

// The headers every file of the page is served with: its Content-Security-Policy allows nothing from other
// origins and no inline script, so text a model writes cannot run even if the page had a bug that rendered it.
inline constexpr std::string_view kWebContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

// GET (and HEAD) routes for / and each file.
void add_web_ui_routes(httplib::Server& server);

}  // namespace hearth::server
