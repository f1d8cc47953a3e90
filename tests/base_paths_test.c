/* Where a binary finds its share and var folders (base/paths.c): the source
 * tree for a build of the tree, <prefix>/share/shopflow and
 * <prefix>/var/shopflow for an installed copy, SHOPFLOW_SHARE over both. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/paths.h"
#include "base/tmpdir.h"
#include "tests/support/testsupport.h"

/* Runs cmd and returns its first line of output that contains `needle`
 * (empty when none) in out. */
static void first_line_with(const char *cmd, const char *needle, char *out, size_t len)
{
    out[0] = '\0';
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f, "popen %s", cmd);
    char line[1024];
    while (fgets(line, sizeof line, f) != NULL) {
        if (out[0] == '\0' && strstr(line, needle) != NULL)
            snprintf(out, len, "%s", line);
    }
    pclose(f);
}

Test(base_paths, a_build_of_the_tree_has_no_share_folder_and_keeps_var_in_the_source)
{
    unsetenv("SHOPFLOW_SHARE");
    cr_expect_null(shop_share_dir());
    cr_expect_str_eq(shop_default_var_dir(), SHOP_SOURCE_DIR "/var");
}

Test(base_paths, shopflow_share_names_the_share_folder)
{
    setenv("SHOPFLOW_SHARE", "/opt/elsewhere/share/shopflow", 1);
    cr_expect_str_eq(shop_share_dir(), "/opt/elsewhere/share/shopflow");
    cr_expect_str_eq(shop_default_var_dir(), SHOP_SOURCE_DIR "/var");
}

Test(base_paths, an_installed_copy_takes_share_and_var_from_its_prefix)
{
    /* A prefix with bin/mq-delayd and share/shopflow: its --help names the
     * default data folder, under <prefix>/var/shopflow. */
    char prefix[PATH_MAX], bin[PATH_MAX], cmd[3 * PATH_MAX], line[1024], want[PATH_MAX + 64];
    snprintf(prefix, sizeof prefix, "%s/paths-prefix-%ld", shop_tmp_dir(), (long)getpid());
    snprintf(cmd, sizeof cmd, "mkdir -p %s/bin %s/share/shopflow && cp %s %s/bin/", prefix, prefix,
             ts_bin("mq-delayd", bin, sizeof bin), prefix);
    cr_assert_eq(system(cmd), 0, "%s", cmd);

    snprintf(cmd, sizeof cmd, "env -u SHOPFLOW_SHARE %s/bin/mq-delayd --help", prefix);
    first_line_with(cmd, "--data-dir", line, sizeof line);
    snprintf(want, sizeof want, "default %s/var/shopflow/delayd)", prefix);
    cr_expect(strstr(line, want) != NULL, "installed mq-delayd --help: %s", line);

    /* The build of the tree, unchanged. */
    snprintf(cmd, sizeof cmd, "%s --help", bin);
    first_line_with(cmd, "--data-dir", line, sizeof line);
    cr_expect(strstr(line, "default " SHOP_SOURCE_DIR "/var/delayd)") != NULL,
              "in-tree mq-delayd --help: %s", line);

    snprintf(cmd, sizeof cmd, "rm -rf %s", prefix);
    cr_expect_eq(system(cmd), 0);
}
