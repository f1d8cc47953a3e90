/* Where scratch files go: $TMPDIR when set (as every Unix tool does), else
 * /tmp. scripts/test.sh points it at one directory per run, so that a green
 * run leaves nothing behind. */
#ifndef SHOP_BASE_TMPDIR_H
#define SHOP_BASE_TMPDIR_H

const char *shop_tmp_dir(void);

#endif
