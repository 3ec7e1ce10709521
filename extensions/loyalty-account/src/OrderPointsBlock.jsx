import '@shopify/ui-extensions/preact';
import {render} from 'preact';
import {useEffect, useState} from 'preact/hooks';

import {call, numericID} from './api.js';

// customer-account.order-status.block.render: the points this order earned
// (or will earn, or gave back), for the signed-in customer. An order the
// app does not know, or an error, renders nothing: the block never stands
// in the way of the order status page.
export default async () => {
  render(<OrderPointsBlock />, document.body);
};

const t = (key, options) => shopify.i18n.translate(key, options);
const num = (n) => shopify.i18n.formatNumber(n);
const day = (iso) => shopify.i18n.formatDate(new Date(iso), {dateStyle: 'medium'});

function OrderPointsBlock() {
  const orderID = numericID(shopify.order.value && shopify.order.value.id);
  const [points, setPoints] = useState(null);

  useEffect(() => {
    if (!orderID) return;
    call(`/orders/${orderID}`).then(setPoints, () => setPoints(null));
  }, [orderID]);

  if (!points) return null;
  const net = points.points_earned - points.points_reversed;
  let message;
  if (points.status === 'awaiting') message = t('order.awaiting');
  else if (points.status === 'cancelled' || net <= 0) message = points.points_earned > 0 ? t('order.reversed', {points: num(points.points_reversed)}) : null;
  else message = t('order.earned', {count: net, points: num(net)});
  if (!message) return null;
  return (
    <s-banner tone="success" heading={t('order.heading')}>
      <s-stack direction="block" gap="small-200">
        <s-text>{message}</s-text>
        {points.status === 'pending' && points.available_at && (
          <s-text color="subdued">{t('order.pending', {points: num(points.pending_points), date: day(points.available_at)})}</s-text>
        )}
      </s-stack>
    </s-banner>
  );
}
