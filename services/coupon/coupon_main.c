/* shop-coupon: the member/coupon daemon: RPC, and with --arch async the order.* consumer. */
#include "base/log.h"
#include "services/common/svc_daemon.h"
#include "services/common/svc_outbox_arch.h"
#include "services/coupon/coupon_consumer.h"
#include "services/coupon/coupon_logic.h"
#include "services/coupon/coupon_rpc.h"

static int start(shop_daemon *d)
{
    rpc_error err;
    if (coupon_rpc_register(d, &err) != RPC_OK) {
        shop_log_error("register failed error=\"%s\"", err.message);
        return -1;
    }
    return svc_arch_member_start(d, coupon_consumer_config);
}

int main(int argc, char **argv)
{
    static const shop_daemon_spec spec = {
        .prog = "shop-coupon",
        .service = "coupon",
        .env = "SHOP_COUPON",
        .default_listen = "tcp://127.0.0.1:7303",
        .default_metrics = "http://127.0.0.1:9303",
        .about = "The member/coupon service: shop.coupon.CouponService (Use, Restore, GetCoupon)\n"
                 "on its own database, coupon_db.",
        .setup = coupon_logic_prepare,
        .start = start,
        .stop = svc_arch_member_stop,
        .extra_opts = svc_arch_opts,
        .extra_flag = svc_arch_flag,
        .extra_usage = svc_arch_usage,
    };
    return shop_daemon_main(&spec, argc, argv);
}
