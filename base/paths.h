/* Where a shopflow binary finds its data: the SQL migrations (share) and
 * the working state (var), in the source tree or in an installed prefix.
 *
 * A binary is "installed" when <its folder>/../share/shopflow exists
 * (found through /proc/self/exe); then share is that folder and var is
 * <prefix>/var/shopflow. Otherwise it runs from a build of the tree, and
 * both come from the source tree compiled in (SHOP_SOURCE_DIR), as before.
 * $SHOPFLOW_SHARE overrides the share folder; $SHOPFLOW_VAR is read by the
 * callers that honour it. The answers are computed once and cached. */
#ifndef SHOP_BASE_PATHS_H
#define SHOP_BASE_PATHS_H

/* The installed share folder ($SHOPFLOW_SHARE, else <exe>/../share/shopflow
 * when it exists), or NULL when running from the source tree. */
const char *shop_share_dir(void);

/* The default var folder, not counting $SHOPFLOW_VAR: <prefix>/var/shopflow
 * when installed, else <source>/var. */
const char *shop_default_var_dir(void);

/* Removes `path` and everything under it (no symlink is followed); a path
 * that does not exist is not an error. Returns 0, or -1 with errno set. */
int shop_remove_tree(const char *path);

#endif
