import '@shopify/ui-extensions/preact';
import {render} from 'preact';
import {useEffect, useState} from 'preact/hooks';

import {call, requestID} from './api.js';

// customer-account.page.render: the full "Rewards" page of new customer
// accounts. Everything comes from the storefront JSON API's customer
// account door; nothing is cached here.
export default async () => {
  render(<RewardsPage />, document.body);
};

const t = (key, options) => shopify.i18n.translate(key, options);
const num = (n) => shopify.i18n.formatNumber(n);
const day = (iso) => shopify.i18n.formatDate(new Date(iso), {dateStyle: 'medium'});

// What each ledger entry kind reads as; others read as activity.other.
const KINDS = {
  earn: 'activity.earn',
  signup: 'activity.signup',
  birthday: 'activity.birthday',
  review: 'activity.review',
  referral: 'activity.referral',
  adjust: 'activity.adjust',
  redeem: 'activity.redeem',
  reverse: 'activity.reverse',
  expire: 'activity.expire',
};

// How long and how often a pending redemption is polled for its code.
const POLL_MS = 1500;
const POLL_TRIES = 20;

function RewardsPage() {
  const [state, setState] = useState({status: 'loading'});

  async function load() {
    try {
      const [member, rewards, codes, activity] = await Promise.all([
        call('/member'),
        call('/rewards'),
        call('/redemptions'),
        call('/activity'),
      ]);
      setState({status: 'ready', member, rewards, codes, activity});
    } catch (err) {
      setState({status: err.status === 401 ? 'signedOut' : 'error'});
    }
  }
  useEffect(() => {
    load();
  }, []);

  if (state.status === 'loading') {
    return (
      <s-page heading={t('page.heading')}>
        <s-spinner accessibilityLabel={t('page.loading')} />
      </s-page>
    );
  }
  if (state.status !== 'ready') {
    return (
      <s-page heading={t('page.heading')}>
        <s-banner tone={state.status === 'error' ? 'critical' : 'info'}>
          <s-text>{t(state.status === 'error' ? 'page.error' : 'page.signedOut')}</s-text>
        </s-banner>
      </s-page>
    );
  }
  const {member, rewards, codes, activity} = state;
  return (
    <s-page heading={t('page.heading')}>
      <s-stack direction="block" gap="base">
        <Balance member={member} />
        <Rewards rewards={rewards} onChange={load} />
        <Codes codes={codes} />
        <Activity entries={activity} />
        <Referral url={member.referral_url} />
      </s-stack>
    </s-page>
  );
}

function Balance({member}) {
  const expiring = member.expiring[0];
  return (
    <s-section heading={t('balance.heading')}>
      <s-stack direction="block" gap="small-100">
        <s-heading>{t('balance.points', {count: member.points_balance, points: num(member.points_balance)})}</s-heading>
        <s-text>{t('balance.spendable', {points: num(member.spendable_points)})}</s-text>
        {member.pending_points > 0 && <s-text color="subdued">{t('balance.pending', {points: num(member.pending_points)})}</s-text>}
        {expiring && <s-text color="subdued">{t('balance.expiring', {points: num(expiring.points), date: day(expiring.expires_at)})}</s-text>}
        {member.tier_name && <s-text>{t('tier.current', {tier: member.tier_name})}</s-text>}
        <TierProgress member={member} />
      </s-stack>
    </s-section>
  );
}

// TierProgress draws how far the member is toward the next tier; points
// are counted out, spending is only drawn (its currency is the shop's).
function TierProgress({member}) {
  const next = member.next_tier_name || member.next_tier;
  const max = member.next_tier_threshold;
  if (!next || !max) return null;
  const value = Math.max(0, max - member.amount_to_next_tier);
  return (
    <s-stack direction="block" gap="small-200">
      <s-progress value={value} max={max} accessibilityLabel={t('tier.progress', {tier: next})} />
      <s-text color="subdued">
        {member.tier_metric === 'points_earned'
          ? t('tier.nextPoints', {points: num(member.amount_to_next_tier), tier: next})
          : t('tier.nextSpend', {tier: next})}
      </s-text>
    </s-stack>
  );
}

function Rewards({rewards, onChange}) {
  const [busy, setBusy] = useState('');
  const [note, setNote] = useState(null);

  async function redeem(reward) {
    setBusy(reward.id);
    setNote(null);
    try {
      let r = await call('/redemptions', {method: 'POST', body: {reward_id: reward.id, request_id: requestID()}});
      for (let i = 0; r.status === 'pending' && i < POLL_TRIES; i++) {
        await new Promise((done) => setTimeout(done, POLL_MS));
        r = await call(`/redemptions/${r.id}`);
      }
      // A store credit reward has no code: it is added to the store credit.
      if (r.status === 'active' && r.code) setNote({tone: 'success', text: t('rewards.ready', {code: r.code})});
      else if (r.status === 'active') setNote({tone: 'success', text: t('rewards.credited', {amount: r.amount, currency: r.currency})});
      else if (r.status === 'pending') setNote({tone: 'info', text: t('rewards.creating')});
      else setNote({tone: 'critical', text: t('rewards.failed')});
    } catch (err) {
      setNote({tone: 'critical', text: err.message});
    }
    setBusy('');
    onChange();
  }

  return (
    <s-section heading={t('rewards.heading')}>
      <s-stack direction="block" gap="base">
        {note && <s-banner tone={note.tone}><s-text>{note.text}</s-text></s-banner>}
        {rewards.length === 0 && <s-text color="subdued">{t('rewards.none')}</s-text>}
        {rewards.map((r) => (
          <s-stack key={r.id} direction="inline" gap="base" alignItems="center" justifyContent="space-between">
            <s-stack direction="block" gap="none">
              <s-text type="strong">{r.name}</s-text>
              <s-text color="subdued">{t('rewards.cost', {points: num(r.points_cost)})}</s-text>
            </s-stack>
            <s-button
              variant="secondary"
              disabled={!r.affordable || (busy !== '' && busy !== r.id)}
              loading={busy === r.id}
              onClick={() => redeem(r)}
            >
              {t('rewards.redeem')}
            </s-button>
          </s-stack>
        ))}
      </s-stack>
    </s-section>
  );
}

// Codes lists the member's codes that still work, with a copy button.
function Codes({codes}) {
  const usable = codes.filter((c) => c.code);
  if (usable.length === 0) return null;
  return (
    <s-section heading={t('codes.heading')}>
      <s-stack direction="block" gap="base">
        {usable.map((c) => (
          <s-stack key={c.id} direction="inline" gap="base" alignItems="center">
            <s-text type="strong">{c.code}</s-text>
            {c.expires_at && <s-text color="subdued">{t('codes.expires', {date: day(c.expires_at)})}</s-text>}
            <s-clipboard-item id={`code-${c.id}`} text={c.code} />
            <s-button variant="secondary" commandFor={`code-${c.id}`}>{t('codes.copy')}</s-button>
          </s-stack>
        ))}
      </s-stack>
    </s-section>
  );
}

function Activity({entries}) {
  return (
    <s-section heading={t('activity.heading')}>
      {entries.length === 0 ? (
        <s-text color="subdued">{t('activity.none')}</s-text>
      ) : (
        <s-stack direction="block" gap="small-100">
          {entries.map((e, i) => (
            <s-stack key={i} direction="inline" gap="base" justifyContent="space-between">
              <s-text>
                {t(KINDS[e.kind] || 'activity.other')}
                {e.order_name ? ` ${e.order_name}` : ''}
              </s-text>
              <s-text type="strong">{e.points > 0 ? `+${num(e.points)}` : num(e.points)}</s-text>
              <s-text color="subdued">{day(e.created_at)}</s-text>
            </s-stack>
          ))}
        </s-stack>
      )}
    </s-section>
  );
}

function Referral({url}) {
  if (!url) return null;
  return (
    <s-section heading={t('referral.heading')}>
      <s-stack direction="block" gap="small-100">
        <s-text>{t('referral.body')}</s-text>
        <s-stack direction="inline" gap="base" alignItems="center">
          <s-text type="strong">{url}</s-text>
          <s-clipboard-item id="referral-url" text={url} />
          <s-button variant="secondary" commandFor="referral-url">{t('referral.copy')}</s-button>
        </s-stack>
      </s-stack>
    </s-section>
  );
}
