/* Perkbridge loyalty: the embed's and blocks' one script, no dependencies;
   it calls only the storefront API under the app proxy (/apps/loyalty). */
(() => {
  'use strict';
  const $ = (sel, el = document) => el.querySelector(sel);
  const all = (sel, el = document) => [...el.querySelectorAll(sel)];
  const roots = all('[data-pb]');
  if (!roots.length) return;

  const base = roots[0].dataset.proxy + '/api/v1';
  const lang = document.documentElement.lang || undefined;
  const launcher = $('[data-pb-act=launcher]'), panel = $('#pb-panel'), signedIn = !!roots[0].dataset.customer;
  let member = null, rewards = [], loading = null, T = {}, store = {};
  try { T = JSON.parse($('[data-pb-i18n]').textContent); } catch {}
  try { store = sessionStorage; } catch {}

  // t('need', {points: '4 points'}): the shop's text, {points} filled in.
  const t = (key, vars = {}) => Object.keys(vars).reduce((s, k) => s.split('{' + k + '}').join(vars[k]), T[key] || '');
  const num = (n) => Number(n).toLocaleString(lang);
  const pts = (n) => t(n == 1 ? 'point_n' : 'points_n', {n: num(n)});
  const date = (iso) => new Date(iso).toLocaleDateString(lang, {dateStyle: 'long'});
  const cap = (s) => s ? s[0].toUpperCase() + s.slice(1) : '';
  const setState = (s) => roots.forEach((r) => { r.dataset.pbState = s; });
  const on = (type, fn) => document.addEventListener(type, fn);

  // fill sets the [data-f] fields under el that data names ('' hides one).
  function fill(el, data) {
    for (const f of all('[data-f]', el)) {
      const v = data[f.dataset.f];
      if (v == null) continue;
      f[{INPUT: 'value', A: 'href'}[f.tagName] || 'textContent'] = v;
      f.hidden = v === '';
    }
  }
  // rows fills a list, one clone of its template per item.
  function rows(ul, items, fn) {
    all('li', ul).forEach((li) => li.remove());
    for (const it of items) {
      const li = $('template', ul).content.firstElementChild.cloneNode(true);
      fn(li, it);
      ul.append(li);
    }
  }
  function say(box, msg, bad) {
    const m = $('[data-pb-msg]', box);
    m.textContent = msg;
    m.dataset.bad = !!bad;
    return m;
  }

  // api rejects with the JSON error's message, status and field.
  async function api(method, path, body) {
    const res = await fetch(base + path, {method, body: body && JSON.stringify(body), headers: {'Content-Type': 'application/json'}})
      .catch(() => { throw new Error(t('error')); });
    const j = await res.json().catch(() => ({}));
    if (res.ok) return j;
    throw Object.assign(new Error(j.error?.message || t('error')), {status: res.status, field: j.error?.field});
  }

  // load shows the member (401: a guest) and the rewards.
  function load() {
    const who = signedIn ? api('GET', '/member').catch((e) => { if (e.status != 401) throw e; return null; }) : null;
    return loading = Promise.all([who, api('GET', '/rewards')]).then(([m, r]) => {
      member = m;
      rewards = r;
      setState(m ? 'member' : 'guest');
      render();
      if (m) activity(), resume();
    }, () => { if (!member) setState('error'); loading = null; });
  }

  function render() {
    const m = member || {}, exp = m.expiring?.[0];
    fill(document, {
      balance: num(m.points_balance || 0),
      unit: t(m.points_balance == 1 ? 'point' : 'points'),
      tier: m.tier ? t('tier', {tier: cap(m.tier)}) : '',
      next: m.next_tier ? t('next_tier', {tier: cap(m.next_tier)}) : '',
      pending: m.pending_points > 0 ? t('pending', {points: pts(m.pending_points)}) : '',
      expiring: exp ? t('expiring', {points: pts(exp.points), date: date(exp.expires_at)}) : '',
      referral_url: m.referral_url || ''
    });
    all('[data-pb-rewards]').forEach((ul) => rows(ul, rewards, (li, rw) => {
      const b = $('[data-pb-act=redeem]', li), short = member && !rw.affordable ? rw.points_cost - member.spendable_points : 0;
      fill(li, {name: rw.name, cost: pts(rw.points_cost), need: short > 0 ? t('need', {points: pts(short)}) : ''});
      b.hidden = !(member && rw.affordable);
      b.value = rw.id;
      b.ariaLabel = t('redeem_label', {reward: rw.name, points: pts(rw.points_cost)});
    }));
    if (navigator.share) all('[data-pb-act=share]').forEach((b) => { b.hidden = false; });
    if (m.birthday) all('[data-pb-birthday]').forEach((f) => { f.month.value = m.birthday.month; f.day.value = m.birthday.day; });
  }

  async function activity() {
    const list = await api('GET', '/activity').catch(() => null);
    if (!list) return;
    all('[data-pb-activity]').forEach((ul) => rows(ul, list.slice(0, 6), (li, a) => fill(li, {
      what: t('kind_' + a.kind, {order: a.order_name || ''}).trim(),
      when: date(a.created_at),
      pts: (a.points > 0 ? '+' : '−') + num(Math.abs(a.points))
    })));
    all('[data-pb-activity-empty]').forEach((p) => { p.hidden = list.length > 0; });
  }

  // One request id per click, so a retry buys one reward; then poll.
  async function redeem(btn) {
    const box = btn.closest('[data-pb-box]'), body = {reward_id: btn.value, request_id: uuid()};
    const post = () => api('POST', '/redemptions', body);
    busy(box, true);
    $('[data-pb-code]', box).hidden = true;
    say(box, t('redeeming'));
    try {
      const r = await post().catch((e) => { if (e.status) throw e; return post(); });
      store.pbRedemption = r.id;
      show(await settle(r), box);
    } catch (e) {
      if (e.status == 401) return load();
      if (e.done) delete store.pbRedemption;
      say(box, e.message, true).focus();
    } finally {
      busy(box, false);
    }
    load();
  }
  function busy(box, on) {
    box.ariaBusy = on;
    all('[data-pb-act=redeem]').forEach((b) => { b.disabled = on; });
  }
  async function settle(r) {
    for (let n = 0; ; n++) {
      if (r.status == 'active') return r;
      if (r.status == 'failed') throw Object.assign(new Error(t('failed', {points: pts(r.points_spent)})), {done: 1});
      if (n > 90) throw new Error(t('slow'));
      await new Promise((ok) => setTimeout(ok, n < 10 ? 500 : 2000));
      r = await api('GET', '/redemptions/' + r.id).catch((e) => { if (e.status) throw e; return r; });
    }
  }
  // show puts the code (store credit has none) in the code boxes.
  function show(r, box) {
    for (const c of r.code ? all('[data-pb-code]') : []) {
      fill(c, {
        code: r.code,
        expires: r.expires_at ? t('code_expires', {date: date(r.expires_at)}) : '',
        apply: '/discount/' + encodeURIComponent(r.code) + '?redirect=/checkout'
      });
      c.hidden = false;
    }
    if (!box) return;
    say(box, t(r.code ? 'ready' : 'credited', r));
    $('[data-pb-code]', box).focus();
  }
  // resume shows this session's last code again on the next page.
  const resume = (id = store.pbRedemption) => id && api('GET', '/redemptions/' + id).then(settle)
    .then(show, (e) => { if (e.done || e.status == 404) delete store.pbRedemption; });
  const uuid = () => crypto.randomUUID?.() || Date.now() + '-' + Math.random().toString(36).slice(2);

  // copy copies a field, or selects it where the browser refuses.
  async function copy(btn) {
    const box = btn.closest('[data-pb-box]'), f = $(`[data-f=${btn.dataset.pbCopy}]`, box);
    try {
      await navigator.clipboard.writeText(f.value || f.textContent);
      say(box, t('copied'));
    } catch (e) {
      f.select ? f.select() : getSelection().selectAllChildren(f);
      say(box, t('copy_failed'), true);
    }
  }

  // The panel is a modal dialog: focus moves in, Tab stays inside, Escape
  // or the backdrop closes it and focus returns to the launcher.
  function toggle(open) {
    panel.hidden = !open;
    $('.pb-backdrop', panel.parentNode).hidden = !open;
    launcher.ariaExpanded = open;
    if (!open) return launcher.focus();
    if (!loading) load();
    $('h2', panel).focus();
  }
  const focusables = () => all('a[href],button,input,select', panel).filter((el) => !el.disabled && el.getClientRects().length);
  on('keydown', (e) => {
    if (!panel || panel.hidden) return;
    if (e.key == 'Escape') { e.preventDefault(); toggle(false); }
    if (e.key != 'Tab') return;
    const f = focusables(), first = f[0], last = f[f.length - 1];
    if (document.activeElement == (e.shiftKey ? first : last)) { e.preventDefault(); (e.shiftKey ? last : first).focus(); }
  });
  on('focusin', (e) => {
    if (panel && !panel.hidden && !panel.contains(e.target)) focusables()[0]?.focus();
  });

  on('click', (e) => {
    const el = e.target.closest('[data-pb-act]'), act = el?.dataset.pbAct;
    if (act == 'launcher') toggle(panel.hidden);
    if (act == 'close') toggle(false);
    if (act == 'redeem') redeem(el);
    if (act == 'copy') copy(el);
    if (act == 'share') navigator.share({text: t('share_text'), url: member.referral_url}).catch(() => {});
    if (act == 'retry') { setState('loading'); load(); }
  });

  on('submit', async (e) => {
    const form = e.target, btn = $('[type=submit]', form);
    if (!form.hasAttribute('data-pb-birthday')) return;
    e.preventDefault();
    problem(form, 'month', '');
    problem(form, 'day', '');
    say(form, '');
    btn.disabled = true;
    try {
      await api('PUT', '/birthday', {month: +form.month.value, day: +form.day.value});
      say(form, t('birthday_saved'));
    } catch (err) {
      if (err.status == 401) return load();
      const msg = err.status == 404 ? t('birthday_unavailable') : err.message;
      problem(form, err.field, msg) || say(form, msg, true);
    } finally {
      btn.disabled = false;
    }
  });
  // problem shows msg beside a field ('' clears it); false: no such field.
  function problem(form, name, msg) {
    const slot = $(`[data-pb-error="${name}"]`, form), f = form[name];
    if (!slot) return false;
    slot.textContent = msg;
    f.ariaInvalid = !!msg;
    if (msg) f.focus();
    return true;
  }

  // The embed alone waits for the panel to open: most pages call no API.
  if (roots.some((r) => r.dataset.pb != 'embed')) load();
})();
