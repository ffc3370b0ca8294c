// Must NOT compile: the ctest api_hides_internals builds it against libhearth alone and passes only when the
// compiler cannot find this src/ header, proving that the `hearth` target exports include/hearth/ and nothing else.
#include "runtime/engine.h"

int main() { return 0; }
