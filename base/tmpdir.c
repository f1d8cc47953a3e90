/* $TMPDIR or /tmp (see tmpdir.h). */
#include "base/tmpdir.h"

#include <stdlib.h>

const char *shop_tmp_dir(void)
{
    const char *dir = getenv("TMPDIR");
    return dir != NULL && dir[0] == '/' ? dir : "/tmp";
}
