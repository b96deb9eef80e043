/* 12345热线工单处理台: the console page for agents (话务员), supervisors (督办员) and department
 * handlers (承办单位).
 *
 * Plain DOM, no framework. Every piece of data from the server (complaint text, names, notes,
 * replies) reaches the page only as a text node (`el()` / textContent), never as markup: the
 * page's CSP forbids inline script, and this file never parses server text as HTML.
 *
 * Views are addressed by the URL fragment (#queue/new, #ticket/GD…, #search/…, #new-call,
 * #handoffs, #supervisions, #kpis) so that the back button and a reload keep the agent's place.
 */
'use strict';

(() => {
  const API = '/console/api';
  const CHANNELS = { phone: '电话', wechat: '微信公众号', miniapp: '小程序', rating: '差评转办' };
  const SUPERVISION_KINDS = { yellow: '黄牌', red: '红牌', sign_overdue: '超期未签收', urge: '督办员督办' };
  const CARD_TONES = { yellow: 'is-due-soon', red: 'is-overdue' };
  const HANDOFF_STATES = { waiting: '等待回复', answered: '已回复', closed: '已结束' };
  const SPEAKERS = { user: '群众', bot: '智能客服', agent: '话务员' };
  const DELIVERY = { queued: '已排队发送', delivered: '已送达', undeliverable: '无法送达（已超过48小时）' };
  const VIEW_LABELS = { handoffs: '转人工', supervisions: '督办记录', kpis: '部门考核', 'new-call': '登记来电' };
  // Which lists each role works from (the API refuses the others anyway).
  const NAV = {
    agent: { queues: ['new', 'due_soon', 'overdue', 'department', 'unsigned', 'answered', 'ratings'],
             views: ['handoffs', 'supervisions', 'kpis'], start: 'queue/new' },
    supervisor: { queues: ['overdue', 'due_soon', 'department'], views: ['supervisions', 'kpis'],
                  start: 'queue/overdue' },
    department: { queues: ['unsigned', 'department', 'assisting', 'due_soon', 'overdue'], views: ['supervisions'],
                  start: 'queue/unsigned' },
  };

  const state = {
    me: null, meta: null, renderToken: 0, route: null, cursors: [], freshDetail: null, lastList: null, resumeAs: null,
  };
  const $ = (id) => document.getElementById(id);

  // --- DOM helpers: text only ------------------------------------------------------------------

  /** A new element; string children become text nodes, `text` sets textContent. */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    let value;
    for (const [key, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (key === 'class') node.className = v;
      else if (key === 'testid') node.dataset.testid = v;
      else if (key === 'text') node.textContent = v;
      else if (key === 'value') value = v;
      else if (key === 'dataset') Object.assign(node.dataset, v);
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), v);
      else if (typeof v === 'boolean' && key in node) node[key] = v; // checked, disabled, hidden
      else node.setAttribute(key, v === true ? '' : String(v));
    }
    add(node, children);
    if (value !== undefined) node.value = value; // after the options of a <select> exist
    return node;
  }

  function add(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const content = () => $('content');
  const show = (...nodes) => content().replaceChildren(...nodes.flat().filter(Boolean));

  // --- server ----------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /** One JSON request; errors become ApiError with the server's Chinese message. */
  async function api(method, path, body) {
    const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (method !== 'GET') {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body || {});
    }
    let response;
    try {
      response = await fetch(API + path, init);
    } catch (e) {
      throw new ApiError(0, 'network', '网络连接失败，请检查网络后重试');
    }
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const error = data && data.error;
      throw new ApiError(response.status, error ? error.code : `http_${response.status}`,
        error && error.message ? error.message : `请求失败（${response.status}），请稍后再试`);
    }
    return data;
  }

  // --- alerts ----------------------------------------------------------------------------------

  let noticeTimer = null;

  function showAlert(message) {
    const alert = $('alert');
    alert.textContent = message;
    alert.hidden = false;
  }

  function clearAlert() {
    $('alert').hidden = true;
    $('alert').textContent = '';
  }

  function notify(message) {
    const notice = $('notice');
    notice.textContent = message;
    notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { notice.hidden = true; }, 4000);
  }

  function fail(error) {
    if (error instanceof ApiError && error.status === 401 && state.me) {
      state.resumeAs = state.me.username; // the session ended (expired, or logged out elsewhere)
      state.me = null;
      showLogin();
    }
    if (error instanceof ApiError) {
      showAlert(error.message);
    } else {
      showAlert('页面出错，请刷新后重试');
      console.error(error); // eslint-disable-line no-console
    }
  }

  /** Run `task` with `button` disabled (no double submits); errors go to the alert area. */
  async function busy(button, task) {
    clearAlert();
    if (button) button.disabled = true;
    try {
      return await task();
    } catch (error) {
      fail(error);
      return undefined;
    } finally {
      if (button) button.disabled = false;
    }
  }

  // --- formatting ------------------------------------------------------------------------------

  const TIME = new Intl.DateTimeFormat('zh-CN', {
    timeZone: 'Asia/Shanghai', year: 'numeric', month: 'numeric', day: 'numeric',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  });

  /** "2026-11-30" → "11月30日" (with the year when it is not `year`). */
  function plainDate(iso, year) {
    const [y, m, d] = iso.split('-').map(Number);
    const text = `${m}月${d}日`;
    return year && y !== year ? `${y}年${text}` : text;
  }

  /** A timestamp as Beijing time: "11月18日 09:30". */
  function plainTime(iso) {
    if (!iso) return '';
    const parts = {};
    for (const part of TIME.formatToParts(new Date(iso))) parts[part.type] = part.value;
    return `${parts.month}月${parts.day}日 ${parts.hour}:${parts.minute}`;
  }

  const yearOf = (iso) => Number(String(iso).slice(0, 4));
  const percent = (rate) => (rate === null || rate === undefined ? '—' : `${(rate * 100).toFixed(1)}%`);
  const departmentName = (code) => {
    const found = state.meta.departments.find((d) => d.code === code);
    return found ? found.name : code;
  };

  /** "11月30日（剩3个工作日）", "11月20日（已超期2个工作日）"; answered tickets show the date only. */
  function deadlineText(deadline, ticket) {
    const date = plainDate(deadline.due_date, yearOf(ticket.created_at));
    if (!deadline.pending) return date;
    const left = deadline.remaining_working_days;
    if (left < 0) return `${date}（已超期${-left}个工作日）`;
    if (left === 0) return `${date}（今日到期）`;
    return `${date}（剩${left}个工作日）`;
  }

  /** The deadline coloured as the ticket's card (黄牌, 红牌): the server decides both. */
  function deadlineNode(ticket, testid) {
    const deadline = ticket.deadline;
    return el('span', { class: ['deadline', CARD_TONES[ticket.card]].filter(Boolean).join(' '), testid },
      el('span', { testid: testid && `${testid}-text` }, deadlineText(deadline, ticket)),
      deadline.provisional ? el('span', {
        class: 'badge badge-forecast', testid: 'deadline-provisional',
        title: '该年度放假安排尚未公布，期限按预测的节假日计算，以正式公布为准',
      }, '预测') : null);
  }

  function cardBadge(card) {
    if (card === 'red') return el('span', { class: 'badge badge-red', testid: 'card-badge' }, '红牌');
    if (card === 'yellow') return el('span', { class: 'badge badge-yellow', testid: 'card-badge' }, '黄牌');
    return null;
  }

  const stateTag = (ticket) => el('span', { class: `tag state-${ticket.state}`, testid: 'ticket-state' },
    ticket.state_label);

  // --- login -----------------------------------------------------------------------------------

  function showLogin() {
    $('app-view').hidden = true;
    $('login-view').hidden = false;
    $('login-password').value = '';
    $('login-username').focus();
  }

  async function login(event) {
    event.preventDefault();
    const button = event.submitter || $('login-form').querySelector('button');
    await busy(button, async () => {
      state.me = await api('POST', '/login', {
        username: $('login-username').value.trim(), password: $('login-password').value,
      });
      $('login-password').value = '';
      $('notice').hidden = true;
      state.lastList = null;
      state.route = null;
      // After a session ran out, the same person continues where they were; anyone else starts afresh.
      if (state.resumeAs !== state.me.username) history.replaceState(null, '', `#${NAV[state.me.role].start}`);
      state.resumeAs = null;
      await enterApp();
    });
  }

  async function logout() {
    await busy($('logout'), async () => {
      await api('POST', '/logout', {});
      state.me = null;
      state.meta = null;
      content().replaceChildren();
      history.replaceState(null, '', location.pathname);
      showLogin();
      notify('已退出登录');
    });
  }

  async function enterApp() {
    state.meta = await api('GET', '/meta');
    const me = state.me;
    $('user-name').textContent = me.name;
    $('user-role').textContent = me.role_label;
    $('user-department').textContent = me.department_name || '';
    $('login-view').hidden = true;
    $('app-view').hidden = false;
    buildNav();
    await render();
  }

  // --- navigation ------------------------------------------------------------------------------

  function queueLabel(name) {
    if (name === 'department' && state.me.role === 'department') return '本单位在办';
    return state.meta.queues[name] || name;
  }

  function buildNav() {
    const nav = NAV[state.me.role];
    const link = (route, label, testid) => el('a', { href: `#${route}`, class: 'nav-link', testid,
      dataset: { route } }, label);
    $('nav').replaceChildren(...[
      state.me.role === 'agent'
        ? el('a', { href: '#new-call', class: 'btn btn-primary btn-block nav-new-call', testid: 'new-call',
          dataset: { route: 'new-call' } }, '＋ 登记来电')
        : null,
      el('h3', { class: 'nav-heading' }, state.me.role === 'department' ? '本单位工单' : '工单队列'),
      nav.queues.map((name) => link(`queue/${name}`, queueLabel(name), `nav-${name}`)),
      el('h3', { class: 'nav-heading' }, '更多'),
      nav.views.map((view) => link(view, VIEW_LABELS[view], `nav-${view}`)),
    ].flat().filter(Boolean));
  }

  function markNav(route) {
    for (const link of $('nav').querySelectorAll('[data-route]')) {
      if (route.startsWith(link.dataset.route.split('?')[0])) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
  }

  function parseRoute() {
    let hash = location.hash.slice(1);
    try {
      hash = decodeURIComponent(hash);
    } catch (e) {
      hash = '';
    }
    const [path, query] = hash.split('?');
    const slash = path.indexOf('/');
    return {
      key: hash,
      view: slash < 0 ? path : path.slice(0, slash),
      arg: slash < 0 ? '' : path.slice(slash + 1),
      params: new URLSearchParams(query || ''),
    };
  }

  function allowed(route) {
    const nav = NAV[state.me.role];
    if (route.view === 'queue') return nav.queues.includes(route.arg);
    if (route.view === 'new-call') return state.me.role === 'agent';
    if (route.view === 'ticket' || route.view === 'search') return route.arg !== '';
    return nav.views.includes(route.view);
  }

  async function render() {
    if (!state.me) return;
    let route = parseRoute();
    if (!allowed(route)) {
      history.replaceState(null, '', `#${NAV[state.me.role].start}`);
      route = parseRoute();
    }
    if (!state.route || state.route.key !== route.key) state.cursors = [];
    state.route = route;
    if (route.view !== 'ticket' && route.view !== 'new-call') state.lastList = route.key;
    clearAlert();
    markNav(route.key);
    const token = ++state.renderToken;
    const current = () => token === state.renderToken; // a later navigation wins
    try {
      if (route.view === 'queue') await showQueue(route, current);
      else if (route.view === 'search') await showSearch(route.arg, current);
      else if (route.view === 'ticket') await showTicket(route.arg, current);
      else if (route.view === 'new-call') showNewCall();
      else if (route.view === 'handoffs') await showHandoffs(current);
      else if (route.view === 'supervisions') await showSupervisions(current);
      else if (route.view === 'kpis') await showKpis(current);
      window.scrollTo(0, 0);
    } catch (error) {
      if (current()) fail(error);
    }
  }

  const go = (route) => { location.hash = `#${route}`; };
  const pageHeader = (title, ...extra) => el('div', { class: 'page-header' },
    el('h1', { testid: 'page-title' }, title), el('div', { class: 'page-tools' }, extra));
  const empty = (text) => el('p', { class: 'empty', testid: 'empty' }, text);

  // --- lists -----------------------------------------------------------------------------------

  function ticketTable(tickets) {
    if (!tickets.length) return empty('暂无工单');
    const head = el('tr', {}, ['工单编号', '类型', '分类', '诉求摘要', '状态', '承办单位', '督办', '答复期限']
      .map((h) => el('th', { scope: 'col' }, h)));
    const rows = tickets.map((t) => el('tr', {
      class: 'ticket-row', testid: 'ticket-row', dataset: { number: t.number },
      onclick: (event) => { if (event.target.tagName !== 'A') go(`ticket/${t.number}`); },
    },
    el('td', { class: 'mono' }, el('a', { href: `#ticket/${encodeURIComponent(t.number)}` }, t.number)),
    el('td', {}, t.type),
    el('td', {}, t.category || el('span', { class: 'muted' }, '未分类')),
    el('td', { class: 'preview' }, t.preview),
    el('td', {}, stateTag(t)),
    el('td', {}, t.lead_department_name || el('span', { class: 'muted' }, '—')),
    el('td', {}, cardBadge(t.card)),
    el('td', { class: 'nowrap' }, deadlineNode(t, 'row-deadline'))));
    return el('div', { class: 'table-wrap' },
      el('table', { class: 'table tickets', testid: 'ticket-table' }, el('thead', {}, head), el('tbody', {}, rows)));
  }

  function pager(next, reload) {
    const back = state.cursors.length > 0;
    if (!next && !back) return null;
    return el('div', { class: 'pager' },
      back ? el('button', { type: 'button', class: 'btn', testid: 'prev-page', onclick: () => {
        state.cursors.pop();
        reload();
      } }, '上一页') : null,
      el('span', { class: 'muted' }, `第${state.cursors.length + 1}页`),
      next ? el('button', { type: 'button', class: 'btn', testid: 'next-page', onclick: () => {
        state.cursors.push(next);
        reload();
      } }, '下一页') : null);
  }

  async function showQueue(route, current) {
    const name = route.arg;
    const department = state.me.role === 'department' ? '' : route.params.get('department') || '';
    const query = new URLSearchParams();
    if (department) query.set('department', department);
    const after = state.cursors[state.cursors.length - 1];
    if (after) query.set('after', after);
    const page = await api('GET', `/queues/${encodeURIComponent(name)}?${query}`);
    if (!current()) return;
    let filter = null;
    if (state.me.role !== 'department' && name !== 'new') { // new tickets have no department yet
      filter = el('select', {
        testid: 'department-filter', 'aria-label': '按承办单位筛选', value: department,
        onchange: (event) => go(`queue/${name}${event.target.value ? `?department=${event.target.value}` : ''}`),
      }, el('option', { value: '' }, '全部承办单位'),
      state.meta.departments.map((d) => el('option', { value: d.code }, d.name)));
    }
    const refresh = el('button', { type: 'button', class: 'btn', testid: 'refresh', onclick: () => render() }, '刷新');
    show(pageHeader(queueLabel(name), filter, refresh), ticketTable(page.tickets),
      pager(page.next, () => render()));
  }

  async function showSearch(text, current) {
    const page = await api('GET', `/search?q=${encodeURIComponent(text)}`);
    if (!current()) return;
    if (page.tickets.length === 1 && page.tickets[0].number === text.trim().toUpperCase()) {
      history.replaceState(null, '', `#ticket/${page.tickets[0].number}`); // a number found: open it
      await render();
      return;
    }
    show(pageHeader(`查找“${text}”`), ticketTable(page.tickets));
  }

  function search(event) {
    event.preventDefault();
    const text = $('search-input').value.trim();
    if (!text) {
      showAlert('请输入工单编号（GD开头）或来电号码');
      return;
    }
    go(`search/${encodeURIComponent(text)}`);
  }

  // --- form fields: each has a node and read() → its part of the request body ------------------

  let fieldIds = 0;

  function field(label, control, hint) {
    const id = `f${++fieldIds}`;
    control.id = id;
    return el('div', { class: 'field' }, el('label', { for: id }, label), control,
      hint ? el('small', { class: 'muted' }, hint) : null);
  }

  function textInput(name, label, options = {}) {
    const testid = options.testid || `field-${name}`;
    const control = options.multiline
      ? el('textarea', { rows: options.rows || 4, maxlength: options.max || 4000, testid,
        placeholder: options.placeholder, value: options.value || '' })
      : el('input', { type: options.type || 'text', maxlength: options.max || 200, testid,
        placeholder: options.placeholder, value: options.value || '' });
    return {
      node: field(label, control, options.hint), control,
      read: () => {
        const value = control.value.trim();
        return value ? { [name]: value } : {};
      },
    };
  }

  function selectInput(name, label, choices, options = {}) {
    const control = el('select', { testid: options.testid || `field-${name}`, value: options.value || '' },
      options.placeholder ? el('option', { value: '' }, options.placeholder) : null,
      choices.map(([value, text]) => el('option', { value }, text)));
    return { node: field(label, control, options.hint), control,
      read: () => (control.value ? { [name]: control.value } : {}) };
  }

  function departmentInput(label, value, exclude) {
    return selectInput('department', label,
      state.meta.departments.filter((d) => d.code !== exclude).map((d) => [d.code, d.name]),
      { value, placeholder: '请选择承办单位' });
  }

  function assistInput(exclude) {
    const boxes = state.meta.departments.filter((d) => d.code !== exclude).map((d) => el('label', { class: 'check' },
      el('input', { type: 'checkbox', value: d.code, testid: `assist-${d.code}` }), d.name));
    const node = el('fieldset', { class: 'field checks' }, el('legend', {}, '协办单位（可选）'), boxes);
    return { node, read: () => {
      const codes = [...node.querySelectorAll('input:checked')].map((box) => box.value);
      return codes.length ? { assist_departments: codes } : {};
    } };
  }

  function yesNoInput(name, label, yes, no, value) {
    const group = `g${++fieldIds}`;
    const radio = (flag, text) => el('label', { class: 'check' },
      el('input', { type: 'radio', name: group, value: String(flag), checked: value === flag,
        testid: `field-${name}-${flag}` }), text);
    const node = el('fieldset', { class: 'field checks inline' }, el('legend', {}, label),
      radio(true, yes), radio(false, no));
    return { node, read: () => {
      const chosen = node.querySelector('input:checked');
      return chosen ? { [name]: chosen.value === 'true' } : {};
    } };
  }

  function numberInput(name, label, min, max, value, hint) {
    const control = el('input', { type: 'number', min, max, step: 1, testid: `field-${name}`,
      value: value === undefined || value === null ? '' : String(value) });
    return { node: field(label, control, hint), control, read: () => {
      const text = control.value.trim();
      return text ? { [name]: Number(text) } : {};
    } };
  }

  /** Category and subcategory selects; the subcategories follow the chosen category. */
  function categoryInputs(category, subcategory, testids = {}) {
    const categories = state.meta.categories;
    const main = el('select', { testid: testids.category || 'field-category' },
      el('option', { value: '' }, '请选择分类'),
      categories.map((c) => el('option', { value: c.name }, c.name)));
    const sub = el('select', { testid: testids.subcategory || 'field-subcategory' });
    const fillSub = (selected) => {
      const found = categories.find((c) => c.name === main.value);
      sub.replaceChildren();
      add(sub, [el('option', { value: '' }, found && found.subcategories.length ? '（不细分）' : '—'),
        (found ? found.subcategories : []).map((s) => el('option', { value: s }, s))]);
      sub.value = selected || '';
      sub.disabled = !found || !found.subcategories.length;
    };
    main.value = category || '';
    main.addEventListener('change', () => fillSub(''));
    fillSub(subcategory);
    return {
      node: el('div', { class: 'field-row' }, field('分类', main), field('子类', sub)),
      main,
      set(name) {
        main.value = name;
        fillSub('');
      },
      read: () => {
        if (!main.value) return {};
        return sub.value ? { category: main.value, subcategory: sub.value } : { category: main.value };
      },
    };
  }

  const typeChoices = () => state.meta.types.map((t) => [t, t]);
  const limits = () => state.meta.time_limits;
  const difficultyChoices = () => Object.entries(state.meta.difficulties)
    .map(([value, label]) => [value, `${label}（${limits().difficulty_days[value]}个工作日）`]);

  // --- registering a call ----------------------------------------------------------------------

  function showNewCall() {
    const type = selectInput('type', '来电类型', typeChoices(), { value: '投诉', testid: 'call-type' });
    const text = textInput('content', '诉求内容', { multiline: true, rows: 6, testid: 'call-content',
      placeholder: '记录来电人反映的问题、诉求和期望' });
    const name = textInput('contact_name', '联系人', { max: 64, testid: 'call-name' });
    const phone = textInput('contact_phone', '来电号码', { type: 'tel', max: 12, testid: 'call-phone',
      placeholder: '手机号或带区号的固话' });
    const anonymous = el('input', { type: 'checkbox', testid: 'call-anonymous' });
    const place = textInput('location', '发生地点', { testid: 'call-location' });
    const categories = categoryInputs('', '', { category: 'call-category', subcategory: 'call-subcategory' });
    const difficulty = selectInput('difficulty', '难度', difficultyChoices(),
      { value: 'general', testid: 'call-difficulty' });
    const submit = el('button', { type: 'submit', class: 'btn btn-primary', testid: 'call-submit' }, '登记工单');
    const form = el('form', { class: 'panel form', testid: 'new-call-form', novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        const body = { ...type.read(), ...text.read(), ...name.read(), ...phone.read(), ...place.read(),
          ...categories.read(), ...difficulty.read(), anonymous: anonymous.checked };
        if (!body.content) {
          showAlert('请填写诉求内容');
          return;
        }
        await busy(submit, async () => {
          const detail = await api('POST', '/tickets', body);
          notify(`已登记工单 ${detail.number}`);
          state.freshDetail = detail;
          go(`ticket/${detail.number}`);
        });
      } },
    el('div', { class: 'field-row' }, type.node, difficulty.node),
    text.node,
    el('div', { class: 'field-row' }, name.node, phone.node),
    el('label', { class: 'check' }, anonymous, '来电人要求匿名（承办单位看不到姓名和电话）'),
    place.node,
    categories.node,
    el('div', { class: 'form-actions' }, submit));
    show(pageHeader('登记来电'), form);
    text.control.focus();
  }

  // --- one ticket ------------------------------------------------------------------------------

  async function showTicket(number, current) {
    let detail = state.freshDetail;
    state.freshDetail = null;
    if (!detail || detail.number !== number) detail = await api('GET', `/tickets/${encodeURIComponent(number)}`);
    if (!current()) return;
    renderTicket(detail);
  }

  function info(label, value, testid) {
    return [el('dt', {}, label), el('dd', { testid }, value === null || value === undefined || value === ''
      ? el('span', { class: 'muted' }, '—') : value)];
  }

  function renderTicket(t) {
    const actions = el('div', { class: 'actions', testid: 'actions' });
    const formArea = el('div', { class: 'action-form-area' });
    const ctx = { ticket: t, formArea, suggestedDepartment: null };
    for (const action of t.actions) {
      actions.appendChild(el('button', { type: 'button', class: 'btn', testid: `action-${action.name}`,
        onclick: () => openAction(ctx, action) }, action.label));
    }
    const contact = t.anonymous && !t.contact_phone
      ? '匿名' : [t.contact_name || '未留姓名', t.anonymous ? '（匿名）' : ''].join('');
    const deadline = t.deadline;
    show(
      el('div', { class: 'page-header' },
        el('div', {},
          el('a', { href: `#${state.lastList || NAV[state.me.role].start}`, class: 'back', testid: 'back' }, '← 返回列表'),
          el('h1', { class: 'ticket-title' }, el('span', { class: 'mono', testid: 'ticket-number' }, t.number),
            el('span', { class: 'tag' }, t.type), stateTag(t), cardBadge(t.card)))),
      el('div', { class: 'ticket-grid' },
        el('div', { class: 'ticket-main' },
          el('section', { class: 'panel' },
            el('h2', {}, '诉求内容'),
            el('p', { class: 'ticket-content', testid: 'ticket-content' }, t.content),
            el('dl', { class: 'facts' },
              info('发生地点', t.location, 'ticket-location'),
              info('联系人', contact, 'ticket-contact'),
              info('联系电话', t.contact_phone, 'ticket-phone'),
              info('来源', CHANNELS[t.channel] || t.channel),
              info('分类', t.category ? [t.category, t.subcategory ? ` / ${t.subcategory}` : ''].join('') : null,
                'ticket-category'),
              info('难度', state.meta.difficulties[t.difficulty]),
              info('主办单位', t.lead_department_name, 'ticket-department'),
              info('协办单位', t.assist_departments.map(departmentName).join('、')),
              t.application_no ? info('关联办件', t.application_no) : null,
              info('登记时间', plainTime(t.created_at)),
              t.dispatched_at ? info('派单时间', plainTime(t.dispatched_at), 'ticket-dispatched-at') : null,
              t.closed_at ? info('办结时间', plainTime(t.closed_at), 'ticket-closed-at') : null)),
          t.reply ? el('section', { class: 'panel' }, el('h2', {}, '答复'),
            el('p', { class: 'ticket-content', testid: 'ticket-reply' }, t.reply),
            el('p', { class: 'muted small' }, `答复时间：${plainTime(t.replied_at)}`)) : null,
          timelineSection(t.timeline),
          ratingsSection(t.ratings)),
        el('aside', { class: 'ticket-side' },
          el('section', { class: 'panel deadline-panel' },
            el('h2', {}, '答复期限'),
            el('div', { class: 'deadline-big' }, deadlineNode(t, 'ticket-deadline')),
            el('p', { class: 'muted small', testid: 'ticket-promise' }, deadline.promise),
            el('dl', { class: 'facts compact' },
              info('时限', `${deadline.working_days}个工作日`),
              info('期限时刻', `${plainDate(deadline.due_date, yearOf(t.created_at))} 23:59:59`),
              t.sign_due_date && !t.signed_at && deadline.pending
                ? info('签收期限', plainDate(t.sign_due_date, yearOf(t.created_at))) : null,
              t.signed_at ? info('签收时间', plainTime(t.signed_at)) : null,
              t.extension_state ? info('延期', extensionText(t)) : null)),
          el('section', { class: 'panel' },
            el('h2', {}, '办理'),
            t.actions.length ? actions : el('p', { class: 'muted' }, '当前没有您可以进行的操作'),
            formArea),
          suggestionsSection(ctx))));
  }

  function extensionText(t) {
    if (t.extension_state === 'requested') return `申请延期${t.extension_requested_days}个工作日，待审核`;
    if (t.extension_state === 'approved') return '已批准延期';
    return '延期申请未获批准';
  }

  function timelineSection(steps) {
    return el('section', { class: 'panel' }, el('h2', {}, '办理过程'),
      el('ol', { class: 'timeline', testid: 'timeline' }, steps.map((s) => el('li', { testid: 'timeline-step' },
        el('div', { class: 'step-head' },
          el('strong', {}, s.action_label),
          el('span', { class: 'tag' }, s.state_label),
          el('span', { class: 'muted' }, s.by),
          el('time', { class: 'muted', datetime: s.at }, plainTime(s.at))),
        stepDetails(s)))));
  }

  function stepDetails(s) {
    const lines = [];
    const data = s.data || {};
    if (data.department) lines.push(`承办单位：${departmentName(data.department)}`);
    if (data.previous_department) lines.push(`原承办单位：${departmentName(data.previous_department)}`);
    if (data.assist_departments && data.assist_departments.length) {
      lines.push(`协办单位：${data.assist_departments.map(departmentName).join('、')}`);
    }
    if (data.category) lines.push(`分类：${data.category}${data.subcategory ? ` / ${data.subcategory}` : ''}`);
    if (data.type) lines.push(`类型：${data.type}`);
    if (data.difficulty) lines.push(`难度：${state.meta.difficulties[data.difficulty] || data.difficulty}`);
    if (data.days) lines.push(`延期：${data.days}个工作日`);
    if (data.reached !== undefined) lines.push(data.reached ? '已联系上来电人' : '未联系上来电人');
    if (data.reasonable !== undefined) lines.push(data.reasonable ? '认定为合理差评' : '认定为不合理差评');
    if (data.late) lines.push('超过签收期限');
    if (data.reply) lines.push(`答复：${data.reply}`);
    if (s.note) lines.push(`说明：${s.note}`);
    return lines.length ? el('div', { class: 'step-body' }, lines.map((line) => el('p', {}, line))) : null;
  }

  function ratingsSection(ratings) {
    if (!ratings.length) return null;
    const judged = (r) => (r.reasonable === null ? '未认定' : r.reasonable ? '合理' : '不合理');
    return el('section', { class: 'panel' }, el('h2', {}, '群众评价'),
      el('table', { class: 'table', testid: 'ratings' },
        el('thead', {}, el('tr', {}, ['轮次', '评价', '意见', '时间', '差评认定'].map((h) => el('th', {}, h)))),
        el('tbody', {}, ratings.map((r) => el('tr', {},
          el('td', {}, r.round === 0 ? '首次' : `第${r.round}次重办`),
          el('td', {}, el('span', { class: `tag rating-${r.level === '不满意' || r.level === '非常不满意' ? 'bad' : 'good'}` },
            r.level)),
          el('td', {}, r.comment || ''),
          el('td', { class: 'nowrap' }, plainTime(r.rated_at)),
          el('td', {}, judged(r)))))));
  }

  function suggestionsSection(ctx) {
    const t = ctx.ticket;
    if (!t.suggestions.length) return null;
    const canClassify = t.actions.find((a) => a.name === 'classify');
    return el('section', { class: 'panel', testid: 'suggestions' },
      el('h2', {}, '分类建议'),
      el('ul', { class: 'suggestions' }, t.suggestions.map((s) => el('li', { testid: 'suggestion' },
        el('div', {}, el('strong', {}, s.category), el('div', { class: 'muted small' },
          `${s.department_name} · 匹配度 ${Math.round(s.score * 100)}%`)),
        canClassify ? el('button', { type: 'button', class: 'btn btn-small', testid: 'suggestion-adopt',
          onclick: () => {
            ctx.suggestedDepartment = s.department; // the dispatch form starts from it
            openAction(ctx, canClassify, { category: s.category });
          } }, '采用') : null))),
      el('p', { class: 'muted small' }, '根据以往同类诉求推荐，请核对后采用。'));
  }

  // --- actions: a small form per action, then POST and re-render -------------------------------

  function categoryDepartment(category) {
    const found = state.meta.categories.find((c) => c.name === category);
    return found ? found.department : '';
  }

  /** The fields of each action (see console_api.ActionIn); a hint for those with none. */
  const ACTION_FIELDS = {
    classify: (t, preset) => {
      // Only what changed is sent, so the timeline records the real change.
      const kind = selectInput('type', '类型', typeChoices(), { value: t.type });
      const categories = categoryInputs(preset.category || t.category, preset.category ? '' : t.subcategory);
      const difficulty = selectInput('difficulty', '难度', difficultyChoices(), { value: t.difficulty,
        hint: t.difficulty === 'difficult' ? '疑难工单不能降为一般' : `定为疑难后时限为${limits().difficulty_days.difficult}个工作日` });
      const changed = (input, current) => ({ node: input.node,
        read: () => (input.control.value !== current ? input.read() : {}) });
      return [changed(kind, t.type), {
        node: categories.node,
        read: () => {
          const chosen = categories.read();
          const same = chosen.category === (t.category || undefined)
            && chosen.subcategory === (t.subcategory || undefined);
          return same ? {} : chosen;
        },
      }, changed(difficulty, t.difficulty)];
    },
    dispatch: (t, preset, ctx) => [
      departmentInput('主办单位', categoryDepartment(t.category) || ctx.suggestedDepartment || ''),
      assistInput(), textInput('note', '派单说明（可选）', { multiline: true, rows: 2 })],
    redispatch: (t) => [departmentInput('改派给', '', t.lead_department),
      textInput('note', '改派原因', { multiline: true, rows: 3 })],
    answer: () => [textInput('reply', '答复内容', { multiline: true, rows: 5, hint: '咨询类诉求可由话务员直接答复' })],
    accept_return: () => [textInput('note', '说明（可选）', { multiline: true, rows: 2,
      hint: '同意后工单回到待派单，可重新派单' })],
    refuse_return: () => [textInput('note', '不同意退单的理由', { multiline: true, rows: 3 })],
    approve_extension: (t) => [numberInput('days', '批准延期（工作日）', 1, t.extension_requested_days || limits().max_extension_days,
      t.extension_requested_days, `申请${t.extension_requested_days || '—'}个工作日，可少批`)],
    refuse_extension: () => [textInput('note', '不同意延期的理由', { multiline: true, rows: 3 })],
    callback: () => [yesNoInput('reached', '是否联系上来电人', '已联系上', '未联系上', true),
      textInput('note', '回访情况', { multiline: true, rows: 3, placeholder: '来电人对办理结果的意见' })],
    close: () => [],
    judge_rating: () => [yesNoInput('reasonable', '差评认定', '合理（可重办）', '不合理', undefined),
      textInput('note', '认定说明', { multiline: true, rows: 3 })],
    reopen: () => [],
    sign: () => [],
    return: () => [textInput('note', '退单理由', { multiline: true, rows: 3,
      hint: '不属于本单位职责的，请写明依据，建议承办单位' })],
    request_extension: () => [numberInput('days', '延期（工作日）', 1, limits().max_extension_days, '',
      `最多${limits().max_extension_days}个工作日，只能申请一次`),
      textInput('note', '延期理由', { multiline: true, rows: 3 })],
    reply: () => [textInput('reply', '答复内容', { multiline: true, rows: 6,
      placeholder: '写明办理情况和结果，将告知来电人' })],
    assist_note: () => [textInput('note', '协办意见', { multiline: true, rows: 4 })],
    urge: () => [textInput('note', '督办意见（将通知承办单位）', { multiline: true, rows: 3 })],
  };

  const actionHint = (name) => ({
    sign: '签收后开始办理，请在答复期限内答复。',
    close: '确认回访已完成，办结该工单。',
    reopen: `重办给予${limits().reopen_days}个工作日：已派单的重新派给原承办单位，直接答复的回到待派单。`,
  })[name];

  function openAction(ctx, action, preset = {}) {
    const t = ctx.ticket;
    const build = ACTION_FIELDS[action.name] || (() => [textInput('note', '说明', { multiline: true, rows: 3 })]);
    const fields = build(t, preset, ctx);
    const hint = actionHint(action.name);
    const submit = el('button', { type: 'submit', class: 'btn btn-primary', testid: 'action-submit' },
      `确认${action.label}`);
    const form = el('form', { class: 'action-form', testid: 'action-form', dataset: { action: action.name },
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        const body = Object.assign({}, ...fields.map((f) => f.read()));
        if (action.name === 'classify' && !Object.keys(body).length) {
          showAlert('类型、分类和难度都没有改动');
          return;
        }
        await busy(submit, async () => {
          const detail = await api('POST',
            `/tickets/${encodeURIComponent(t.number)}/actions/${encodeURIComponent(action.name)}`, body);
          renderTicket(detail);
          notify(`${action.label}完成，工单当前状态：${detail.state_label}`);
        });
      } },
    el('h3', {}, action.label),
    hint ? el('p', { class: 'muted small' }, hint) : null,
    fields.map((f) => f.node),
    el('div', { class: 'form-actions' }, submit,
      el('button', { type: 'button', class: 'btn btn-quiet', testid: 'action-cancel',
        onclick: () => ctx.formArea.replaceChildren() }, '取消')));
    ctx.formArea.replaceChildren(form);
    clearAlert();
    const first = form.querySelector('textarea, input, select');
    (first || submit).focus();
  }

  // --- 转人工 -----------------------------------------------------------------------------------

  async function showHandoffs(current) {
    const list = await api('GET', '/handoffs');
    if (!current()) return;
    show(pageHeader('转人工会话'),
      list.length ? el('div', { class: 'handoffs' }, list.map(handoffCard)) : empty('暂无待处理的转人工会话'));
  }

  function chatLine(m) {
    const who = `${SPEAKERS[m.from] || m.from}${m.author ? ` ${m.author}` : ''}`;
    return el('li', { class: `chat-${m.from}` },
      el('div', { class: 'chat-meta' }, `${who} · ${plainTime(m.at)}`),
      el('div', { class: 'chat-text' }, m.text),
      m.delivery ? el('div', { class: `chat-delivery delivery-${m.delivery}`, testid: 'handoff-delivery' },
        DELIVERY[m.delivery] || m.delivery) : null);
  }

  /** One handed-over chat: the conversation (agent answers with their delivery) and the reply box. */
  function handoffCard(h) {
    const card = el('section', { class: 'panel handoff', testid: 'handoff-card', dataset: { id: String(h.id) } });
    const messages = [
      // Agent lines come from the replies; transcripts written before they moved there may hold copies.
      ...h.transcript.filter((line) => line.from !== 'agent').map((line) => ({ ...line, delivery: null })),
      ...h.replies.map((r) => ({ at: r.at, from: 'agent', text: r.text, delivery: r.delivery, author: r.author })),
    ].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    const text = el('textarea', { rows: 3, maxlength: 600, testid: 'handoff-reply-text',
      placeholder: h.window_open ? '回复将以微信客服消息发送' : '已超过48小时，微信无法送达，请电话联系' });
    const send = el('button', { type: 'submit', class: 'btn btn-primary', testid: 'handoff-reply-submit' }, '发送回复');
    const close = el('button', { type: 'button', class: 'btn btn-quiet', testid: 'handoff-close',
      onclick: () => busy(close, async () => {
        card.replaceWith(handoffCard(await api('POST', `/handoffs/${h.id}/close`, {})));
        notify('会话已结束');
      }) }, '结束会话');
    const open = h.state !== 'closed';
    add(card, [
      el('div', { class: 'handoff-head' },
        el('h2', {}, `会话 #${h.id}`),
        el('span', { class: `tag handoff-${h.state}`, testid: 'handoff-state' }, HANDOFF_STATES[h.state] || h.state),
        el('span', { class: `badge ${h.window_open ? 'badge-ok' : 'badge-red'}`, testid: 'handoff-window' },
          h.window_open ? '48小时内，可回复' : '已超过48小时窗口'),
        h.taken_by ? el('span', { class: 'muted small', testid: 'handoff-taken-by' }, `接待坐席：${h.taken_by}`) : null,
        el('span', { class: 'muted small' }, `群众最后留言：${plainTime(h.last_user_message_at)}`)),
      el('ol', { class: 'chat', testid: 'handoff-transcript' }, messages.map(chatLine)),
      open ? el('form', { class: 'handoff-form', novalidate: true, onsubmit: async (event) => {
        event.preventDefault();
        if (!text.value.trim()) {
          showAlert('请填写回复内容');
          return;
        }
        await busy(send, async () => {
          const updated = await api('POST', `/handoffs/${h.id}/reply`, { text: text.value });
          card.replaceWith(handoffCard(updated));
          notify(updated.replies.length && updated.replies[updated.replies.length - 1].delivery === 'undeliverable'
            ? '回复已保存，但无法通过微信送达，请电话联系' : '回复已排队发送');
        });
      } }, text, el('div', { class: 'form-actions' }, send, close)) : null,
    ]);
    return card;
  }

  // --- 督办 and KPIs ----------------------------------------------------------------------------

  /** A plain table: header labels and rows of cells (nodes or text). */
  function dataTable(testid, headers, rows, rowTestid, numeric = new Set()) {
    return el('div', { class: 'table-wrap' }, el('table', { class: 'table', testid },
      el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, rows.map((cells) => el('tr', { testid: rowTestid },
        cells.map((cell, i) => el('td', { class: numeric.has(i) ? 'num' : null }, cell)))))));
  }

  async function showSupervisions(current) {
    const after = state.cursors[state.cursors.length - 1];
    const rows = await api('GET', `/supervisions${after ? `?after=${encodeURIComponent(after)}` : ''}`);
    if (!current()) return;
    const table = rows.length ? dataTable('supervision-table', ['督办日期', '类型', '工单编号', '承办单位'],
      rows.map((r) => [
        plainDate(r.raised_on),
        el('span', { class: `badge badge-${r.kind === 'yellow' ? 'yellow' : 'red'}` },
          SUPERVISION_KINDS[r.kind] || r.kind),
        el('a', { class: 'mono', href: `#ticket/${encodeURIComponent(r.ticket_no)}` }, r.ticket_no),
        r.department_name || '—',
      ]), 'supervision-row') : empty('暂无督办记录');
    const next = rows.length >= 50 ? String(rows[rows.length - 1].id) : null; // a full page: there may be more
    show(pageHeader('督办记录'), table, pager(next, () => render()));
  }

  async function showKpis(current) {
    const rows = await api('GET', '/kpis');
    if (!current()) return;
    const headers = ['承办单位', '派单数', '已答复', '按时答复', '超期未答复', '答复率', '按时答复率', '满意率',
      '平均答复用时'];
    const table = rows.length ? dataTable('kpi-table', headers, rows.map((k) => [
      k.department_name, k.assigned, k.replied, k.on_time,
      k.open_overdue ? el('span', { class: 'is-overdue' }, k.open_overdue) : 0,
      percent(k.reply_rate), percent(k.on_time_rate), percent(k.satisfaction_rate),
      k.average_reply_working_days === null ? '—' : `${k.average_reply_working_days}个工作日`,
    ]), 'kpi-row', new Set([1, 2, 3, 4, 5, 6, 7, 8])) : empty('暂无考核数据');
    show(pageHeader('部门考核'), table, el('p', { class: 'muted small' },
      '按时答复率 = 按时答复 ÷（已答复 + 超期未答复）；满意率 = 非常满意、满意、基本满意 ÷ 已评价。'));
  }

  // --- start -----------------------------------------------------------------------------------

  async function boot() {
    $('login-form').addEventListener('submit', login);
    $('search-form').addEventListener('submit', search);
    $('logout').addEventListener('click', logout);
    $('alert').addEventListener('click', clearAlert);
    window.addEventListener('hashchange', () => render());
    try {
      state.me = await api('GET', '/me');
    } catch (error) {
      showLogin();
      if (!(error instanceof ApiError && error.status === 401)) fail(error);
      return;
    }
    try {
      await enterApp();
    } catch (error) {
      fail(error);
    }
  }

  boot();
})();
