# Writes a C++ source that holds every file of a folder as bytes, so the server carries its web page inside the
# binary (no install step, no path to find at run time). Run as a script:
#   cmake -DWEB_DIR=<folder> -DOUTPUT=<file.cpp> -P embed_web_assets.cmake
# The generated file defines hearth::server::web_assets() (declared in src/server/web_ui.h).
if(NOT WEB_DIR OR NOT OUTPUT)
  message(FATAL_ERROR "embed_web_assets.cmake needs -DWEB_DIR=... and -DOUTPUT=...")
endif()

file(GLOB files RELATIVE "${WEB_DIR}" "${WEB_DIR}/*")
list(SORT files)
set(arrays "")
set(entries "")
set(index 0)
string(REPEAT "[0-9a-f]" 32 sixteen_bytes)
foreach(name IN LISTS files)
  # Editors' backups and hidden files are no part of the page.
  if(IS_DIRECTORY "${WEB_DIR}/${name}" OR name MATCHES "^\\.|~$")
    continue()
  endif()
  file(READ "${WEB_DIR}/${name}" hex HEX)
  file(SIZE "${WEB_DIR}/${name}" size)
  # 16 bytes a line keeps the generated file readable in a diff or a debugger (CMake's regex has no {n}).
  string(REGEX REPLACE "(${sixteen_bytes})" "\\1\n" hex "${hex}")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  # A trailing zero keeps an empty file's array legal; the size excludes it.
  string(APPEND arrays "const unsigned char kAsset${index}[] = {\n${bytes}0x00};\n")
  string(APPEND entries "    {\"${name}\", std::string_view(reinterpret_cast<const char*>(kAsset${index}), ${size})},\n")
  math(EXPR index "${index} + 1")
endforeach()

if(index EQUAL 0)
  message(FATAL_ERROR "embed_web_assets.cmake: no files in ${WEB_DIR}")
endif()

set(text "// Generated from ${WEB_DIR} by cmake/embed_web_assets.cmake: edit the files there, not this one.
#include \"server/web_ui.h\"

namespace hearth::server {
namespace {
${arrays}}  // namespace

std::span<const WebAsset> web_assets() {
  static const WebAsset assets[] = {
${entries}  };
  return assets;
}

}  // namespace hearth::server
")
file(WRITE "${OUTPUT}" "${text}")
