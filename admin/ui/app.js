// The Manage guest access page of guestgate: plain JavaScript, no build step, no
// request to another origin. It signs in with a moderator token (from the URL
// fragment) or an API key, keeps the credential in sessionStorage and sends it as
// a Bearer header to the JSON API beside this page (relative URLs only).
//
// Text from the API (room, link and guest names, emails) is only ever set with
// textContent, never as HTML.
(function () {
  "use strict";

  var STORE = "guestgate.credential:" + location.pathname;
  var POLL_MS = 3000;
  var COPIED_MS = 2500;

  var msgs = {};
  var lang = "en";
  var locale = "en";
  var cred = "";
  var me = null;
  var roomId = "";
  var room = null;
  var pollTimer = 0;
  var signingIn = false;
  var accessPending = false;
  var rendered = { links: "", lobby: "", guests: "", invites: "" };
  // The lobby as last seen: the ids of the waiting guests (null before the
  // first answer, so that guests already waiting are not announced as new).
  var waitingIds = null;
  var waitingCount = 0;
  // alerts: the moderator turned on the sound and desktop notifications (a
  // click on the toggle, which is the user gesture browsers ask for).
  var alerts = false;
  var audio = null;

  function $(id) { return document.getElementById(id); }

  // ---- messages ----

  // t returns the message key with %d (a number, formatted for the locale) and
  // %s (a string) filled in order by the other arguments.
  function t(key) {
    var args = Array.prototype.slice.call(arguments, 1);
    var s = msgs[key];
    if (s == null) return key;
    var i = 0;
    return s.replace(/%[ds%]/g, function (m) {
      if (m === "%%") return "%";
      var a = args[i++];
      if (m === "%d" && typeof a === "number") return formatNumber(a);
      return String(a);
    });
  }

  // plural picks key.zero (for 0, when the language has it), key.<CLDR category>
  // or key.other.
  function plural(base, n) {
    if (n === 0 && msgs[base + ".zero"] != null) return t(base + ".zero", n);
    var cat = new Intl.PluralRules(locale).select(n);
    var key = base + "." + cat;
    if (msgs[key] == null) key = base + ".other";
    return t(key, n);
  }

  function formatNumber(n) { return new Intl.NumberFormat(locale).format(n); }

  function formatDate(iso) {
    return new Intl.DateTimeFormat(locale, { dateStyle: "long" }).format(new Date(iso));
  }

  function formatDateTime(iso) {
    return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
  }

  // roleName is a role ("viewer", "speaker", "moderator") in the page's
  // language; "" (a link or guest of before roles) is a viewer.
  function roleName(role) {
    return t("moderator.role." + (role || "viewer"));
  }

  // zoneName names the moderator's time zone, in which "Opens at" is typed:
  // its long name in the page's language where the browser has one.
  function zoneName() {
    try {
      var parts = new Intl.DateTimeFormat(locale, { timeZoneName: "long" }).formatToParts(new Date());
      for (var i = 0; i < parts.length; i++) {
        if (parts[i].type === "timeZoneName") return parts[i].value;
      }
    } catch (e) {
      // An old browser: the zone's id below.
    }
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  }

  function waitedFor(iso) {
    var secs = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (secs < 60) return t("moderator.time.seconds");
    if (secs < 3600) return plural("moderator.time.minutes", Math.floor(secs / 60));
    return plural("moderator.time.hours", Math.floor(secs / 3600));
  }

  function loadMessages() {
    return fetch("i18n.json", { cache: "no-store" }).then(function (res) {
      if (!res.ok) throw new Error("i18n.json: " + res.status);
      return res.json();
    }).then(function (data) {
      msgs = data.messages || {};
      lang = data.lang || "en";
      var root = document.documentElement;
      root.lang = lang;
      root.dir = data.dir || "ltr";
      // The viewer's own locale when it is of the page's language (en-GB, de-AT),
      // for dates and numbers; else the page's language.
      var prefs = navigator.languages || [navigator.language || ""];
      locale = lang;
      for (var i = 0; i < prefs.length; i++) {
        if (prefs[i] && prefs[i].split("-")[0].toLowerCase() === lang) { locale = prefs[i]; break; }
      }
      try { new Intl.DateTimeFormat(locale); } catch (e) { locale = lang; }
      applyMessages(document);
    }).catch(function () {
      // Keep the English that the HTML holds.
    });
  }

  function applyMessages(root) {
    root.querySelectorAll("[data-i18n]").forEach(function (el) {
      el.textContent = t(el.getAttribute("data-i18n"));
    });
    root.querySelectorAll("[data-i18n-aria-label]").forEach(function (el) {
      el.setAttribute("aria-label", t(el.getAttribute("data-i18n-aria-label")));
    });
    setTitle();
  }

  // setTitle names the page and the room, with the number of waiting guests
  // first, so that a moderator sees it on the tab while in another one.
  function setTitle() {
    var title = t("moderator.title");
    if (room) title += " · " + (room.name || room.id);
    if (waitingCount > 0) title = "(" + formatNumber(waitingCount) + ") " + title;
    document.title = title;
  }

  // ---- API ----

  // fields are the API's "fields": every request field at fault, each
  // {field, message}; field is the first of them.
  function ApiError(status, code, field, network, fields) {
    this.status = status;
    this.code = code || "";
    this.field = field || "";
    this.fields = fields || (field ? [{ field: field }] : []);
    this.network = !!network;
  }

  function request(method, path, body) {
    var opts = { method: method, headers: { "Authorization": "Bearer " + cred }, cache: "no-store" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (res) {
      if (res.status === 401) {
        sessionEnded();
        throw new ApiError(401, "unauthorized");
      }
      return res;
    }, function () {
      throw new ApiError(0, "", "", true);
    });
  }

  function api(method, path, body) {
    return request(method, path, body).then(function (res) {
      if (res.status === 204) return null;
      return res.json().catch(function () { return null; }).then(function (data) {
        if (!res.ok) {
          var e = (data && data.error) || {};
          throw new ApiError(res.status, e.code, e.field, false, e.fields);
        }
        return data;
      });
    });
  }

  function roomPath(rest) {
    return "api/rooms/" + encodeURIComponent(roomId) + (rest || "");
  }

  function errorText(e) {
    if (e && e.network) return t("moderator.error.network");
    if (e && e.status === 403) return t("moderator.error.forbidden");
    var known = ["room_not_found", "link_limit", "invitation_limit", "guest_access_off", "gallery_room"];
    if (e && known.indexOf(e.code) >= 0) return t("moderator.error." + e.code);
    return t("moderator.error.generic");
  }

  function showAlert(text) {
    var el = $("alert");
    el.textContent = text;
    el.hidden = !text;
  }

  function fail(e) {
    if (e && e.status === 401) return; // sessionEnded took over
    showAlert(errorText(e));
  }

  function announce(text) {
    var el = $("status");
    el.textContent = "";
    // A change the screen reader notices, even when the same text comes twice.
    setTimeout(function () { el.textContent = text; }, 50);
  }

  // ---- views ----

  var VIEWS = ["loading", "signin", "picker", "manage"];

  function show(view) {
    VIEWS.forEach(function (v) { $("view-" + v).hidden = v !== view; });
    var inRoom = view === "manage";
    $("view-lobby").hidden = !inRoom || !room || room.admission !== "moderator";
    $("view-guests").hidden = !inRoom;
    $("view-invites").hidden = !inRoom;
    $("who").hidden = view === "signin" || view === "loading" || !me;
    document.body.classList.remove("booting");
  }

  function showSignin(message) {
    stopPolling();
    closeDialogs();
    me = null;
    room = null;
    setWaiting([]);
    showAlert("");
    var m = $("signin-message");
    m.textContent = message || "";
    m.hidden = !message;
    $("signin-room").value = roomId;
    $("signin-key").value = "";
    setFieldError("signin-key", "");
    show("signin");
    (roomId ? $("signin-key") : $("signin-room")).focus();
  }

  // sessionEnded: the server refused the credential (401): an expired or revoked
  // token, or a wrong key. Back to sign-in, saying so.
  function sessionEnded() {
    sessionStorage.removeItem(STORE);
    cred = "";
    if (signingIn) return;
    showSignin(t("moderator.signin.expired"));
  }

  function showWho() {
    var text = me.kind === "moderator"
      ? t("moderator.signin.signed_in_as", me.name || me.sub)
      : t("moderator.signin.with_key");
    $("who-name").textContent = text;
    $("who").hidden = false;
    // A moderator who came in by an invitation may not invite moderators.
    // Nor read that moderators can be invited: the hint of a link's roles fits.
    var mod = document.querySelector('#invite-role option[value="moderator"]');
    mod.hidden = mod.disabled = !!me.invitee;
    var hint = $("invite-role-hint");
    hint.setAttribute("data-i18n", me.invitee ? "moderator.create.role_hint" : "moderator.invites.role_hint");
    hint.textContent = t(hint.getAttribute("data-i18n"));
  }

  function canPickRoom() {
    return me && (me.kind !== "moderator" || (me.rooms && me.rooms.length > 1));
  }

  function showPicker(message) {
    stopPolling();
    room = null;
    var m = $("picker-message");
    m.textContent = message || "";
    m.hidden = !message;
    var isToken = me.kind === "moderator";
    $("picker-select-field").hidden = !isToken;
    $("picker-input-field").hidden = isToken;
    if (isToken) {
      var sel = $("picker-select");
      sel.textContent = "";
      me.rooms.forEach(function (id) {
        var o = document.createElement("option");
        o.value = id;
        o.textContent = id;
        if (id === roomId) o.selected = true;
        sel.appendChild(o);
      });
      labelRooms(sel);
    } else {
      $("picker-input").value = roomId;
      listRooms();
    }
    show("picker");
    (isToken ? $("picker-select") : $("picker-input")).focus();
  }

  // listRooms offers an API key the rooms there are, by name, in the picker's
  // list instead of the bare Room ID field (kept when there are none).
  function listRooms() {
    api("GET", "api/rooms").then(function (rooms) {
      if (!rooms || rooms.length === 0 || $("view-picker").hidden) return;
      var sel = $("picker-select");
      sel.textContent = "";
      rooms.forEach(function (r) {
        var o = document.createElement("option");
        o.value = r.id;
        o.textContent = r.name && r.name !== r.id ? r.name + " (" + r.id + ")" : r.id;
        if (r.id === roomId) o.selected = true;
        sel.appendChild(o);
      });
      var focused = document.activeElement === $("picker-input");
      $("picker-select-field").hidden = false;
      $("picker-input-field").hidden = true;
      if (focused) sel.focus();
    }, function () {});
  }

  // labelRooms shows the rooms' names in the picker, when they can be read.
  function labelRooms(sel) {
    Array.prototype.forEach.call(sel.options, function (o) {
      api("GET", "api/rooms/" + encodeURIComponent(o.value)).then(function (r) {
        if (r && r.name && r.name !== o.value) o.textContent = r.name + " (" + o.value + ")";
      }, function () {});
    });
  }

  function setRoom(id) {
    roomId = id;
    var u = new URL(location.href);
    u.searchParams.set("room", id);
    u.hash = "";
    history.replaceState(null, "", u.pathname + u.search);
  }

  // ---- sign-in ----

  // readFragment takes a moderator token from #token=... into sessionStorage and
  // removes it from the address bar (and so from the history) at once.
  function readFragment() {
    if (!location.hash || location.hash.length < 2) return;
    var params = new URLSearchParams(location.hash.slice(1));
    var tok = params.get("token");
    if (tok) sessionStorage.setItem(STORE, tok);
    history.replaceState(null, "", location.pathname + location.search);
  }

  function signedIn() {
    return api("GET", "api/me").then(function (data) {
      me = data;
      if (!me.rooms) me.rooms = null;
      showWho();
      if (me.kind === "moderator") {
        if (!roomId && me.rooms.length === 1) setRoom(me.rooms[0]);
        if (!roomId) return showPicker("");
        if (me.rooms.indexOf(roomId) < 0) return showPicker(t("moderator.error.forbidden"));
      } else if (!roomId) {
        return showPicker("");
      }
      return openRoom();
    });
  }

  function onSignin(ev) {
    ev.preventDefault();
    var key = $("signin-key").value.trim();
    var r = $("signin-room").value.trim();
    if (!key) {
      setFieldError("signin-key", t("moderator.signin.empty"));
      $("signin-key").focus();
      return;
    }
    if (r) setRoom(r);
    cred = key;
    signingIn = true;
    signedIn().then(function () {
      signingIn = false;
      sessionStorage.setItem(STORE, cred);
    }, function (e) {
      signingIn = false;
      if (e && e.status === 401) {
        cred = "";
        setFieldError("signin-key", t("moderator.signin.invalid"));
        $("signin-key").focus();
        return;
      }
      $("signin-message").textContent = errorText(e);
      $("signin-message").hidden = false;
    });
  }

  function signOut() {
    sessionStorage.removeItem(STORE);
    cred = "";
    showSignin("");
  }

  // ---- the room ----

  function openRoom() {
    showAlert("");
    rendered = { links: "", lobby: "", guests: "", invites: "" };
    waitingIds = null;
    waitingCount = 0;
    return api("GET", roomPath()).then(function (data) {
      room = data;
      show("manage");
      $("change-room").hidden = !canPickRoom();
      renderRoom();
      focusSection($("view-manage")); // screen readers start at the window's title
      refreshLobby();
      refreshGuests();
      refreshInvites().catch(fail);
      startPolling();
    }, function (e) {
      if (e.status === 401) return;
      showPicker(errorText(e));
    });
  }

  function refreshRoom() {
    return api("GET", roomPath()).then(function (data) {
      room = data;
      renderRoom();
    });
  }

  function renderRoom() {
    var max = room.max_links;
    var gallery = room.kind === "gallery";
    var n = room.links.length;
    $("room-subtitle").textContent = t("moderator.room.subtitle", room.name || room.id);
    setTitle();
    $("intro").textContent = max === 1 ? t("moderator.intro.one") : t("moderator.intro", max);
    $("gallery-note").hidden = !gallery;

    var unavailable = !room.available;
    $("unavailable-note").hidden = !unavailable;
    var sw = $("access-switch");
    if (!accessPending) sw.checked = !!room.guest_access;
    sw.disabled = gallery || unavailable;

    $("links-count").textContent = plural("moderator.links.count", n);

    var reason = "";
    if (gallery) reason = t("moderator.create.disabled_gallery");
    else if (unavailable) reason = t("moderator.create.disabled_unavailable");
    else if (!room.guest_access) reason = t("moderator.create.disabled_off");
    else if (n >= max) reason = t("moderator.create.disabled_limit", max);
    var btn = $("create-open");
    btn.setAttribute("aria-disabled", reason ? "true" : "false");
    $("create-reason").textContent = reason;
    $("create-reason").hidden = !reason;

    $("view-lobby").hidden = room.admission !== "moderator";
    if (room.admission !== "moderator") setWaiting([]);
    renderLobbyMessage();
    renderLinks();
    renderInvitesState();
  }

  // renderLobbyMessage shows what the waiting guests read now; the input keeps
  // what the moderator is typing.
  function renderLobbyMessage() {
    var m = room.lobby_message || "";
    $("lobby-message-shown").textContent = m;
    $("lobby-message-current").hidden = !m;
    $("lobby-message-clear").hidden = !m;
  }

  function onLobbyMessage(ev) {
    ev.preventDefault();
    var input = $("lobby-message-input");
    var text = input.value.trim();
    if (Array.from(text).length > 280 || /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(text)) {
      setFieldError("lobby-message-input", t("moderator.error.field.text"));
      input.focus();
      return;
    }
    sendLobbyMessage("PUT", { text: text });
  }

  function sendLobbyMessage(method, body) {
    var input = $("lobby-message-input");
    setFieldError("lobby-message-input", "");
    api(method, roomPath("/lobby/message"), body).then(function (data) {
      room = data;
      input.value = "";
      renderRoom();
      announce(room.lobby_message ? t("moderator.lobby.message.sent") : t("moderator.lobby.message.cleared"));
    }, function (e) {
      if (e.status === 401) return;
      if (e.fields.some(function (f) { return f.field === "text"; })) {
        setFieldError("lobby-message-input", t("moderator.error.field.text"));
        input.focus();
        return;
      }
      fail(e);
    });
  }

  // openState says why a link or an invitation x cannot be used now (null
  // when it can, or when the switch already says so), with kind "later" for
  // one that opens at a set time, which is waiting rather than broken. usedUp
  // says whether its uses are spent; bySwitch, whether the guest access switch
  // governs it (links, not invitations). An inactive one of an open room that
  // is neither expired nor used up and has an opening time is not open yet by
  // the server's clock, whatever the moderator's clock says.
  function openState(x, usedUp, bySwitch) {
    var off = bySwitch && !room.guest_access;
    if (x.active) return null;
    if (!room.available) return { text: t("moderator.links.room_unavailable") };
    if (x.expires_at && Date.parse(x.expires_at) <= Date.now()) return { text: t("moderator.links.expired") };
    if (usedUp) return { text: t("moderator.links.used_up") };
    if (x.not_before && (!off || Date.parse(x.not_before) > Date.now())) {
      return { kind: "later", text: t("moderator.links.opens", formatDateTime(x.not_before)), time: x.not_before };
    }
    if (off) return null; // the switch already says so
    return { text: t("moderator.links.inactive") };
  }

  // stateBadge shows a state of openState.
  function stateBadge(state) {
    var b = document.createElement(state.time ? "time" : "span");
    b.className = state.kind === "later" ? "badge link-state later" : "badge badge-warn link-state";
    if (state.time) b.dateTime = state.time;
    b.textContent = state.text;
    return b;
  }

  function renderLinks() {
    var links = room.links;
    var key = lang + JSON.stringify(links) + room.guest_access + room.available;
    $("links-wrap").hidden = links.length === 0;
    rebuild("links", key, links, function (l) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-link", l.id);

      var name = cell(tr, "th", l.name);
      name.setAttribute("scope", "row");
      var state = openState(l, l.max_clicks != null && l.clicks >= l.max_clicks, true);
      if (state) {
        name.appendChild(document.createTextNode(" "));
        name.appendChild(stateBadge(state));
      }

      roleCell(tr, l.role);

      var exp = cell(tr, "td", "");
      if (l.expires_at) {
        var time = exp.appendChild(timeElement(l.expires_at, formatDate(l.expires_at)));
        time.title = formatDateTime(l.expires_at);
      } else {
        exp.textContent = t("moderator.links.never");
      }
      exp.className = "expires";

      var clicks = cell(tr, "td", "");
      clicks.className = "clicks";
      if (l.max_clicks == null) {
        clicks.textContent = t("moderator.links.unlimited");
      } else {
        // "used / max" reads left to right in every language.
        var frac = document.createElement("span");
        frac.dir = "ltr";
        frac.textContent = t("moderator.links.clicks_used", l.clicks, l.max_clicks);
        clicks.appendChild(frac);
      }

      copyDeleteCell(tr, l.id, l.url, t("moderator.action.copy_named", l.name), $("copy-fallback"),
        t("moderator.action.delete_named", l.name), function () { deleteLink(l); });
      return tr;
    });
  }

  // copyDeleteCell adds the actions cell of a link or invitation (its id and
  // url): a copy button named copyLabel, with the fallback box where copying
  // is blocked, and a delete button named deleteLabel that calls onDelete.
  function copyDeleteCell(tr, id, url, copyLabel, box, deleteLabel, onDelete) {
    var actions = cell(tr, "td", "");
    actions.className = "actions-cell";
    var copy = iconButton("copy", copyLabel, ICON_COPY);
    copy.setAttribute("data-key", "copy:" + id);
    copy.addEventListener("click", function () { copyURL(copy, url, copyLabel, box); });
    var del = iconButton("delete", deleteLabel, ICON_TRASH);
    del.setAttribute("data-key", "delete:" + id);
    del.classList.add("danger");
    del.addEventListener("click", onDelete);
    actions.appendChild(copy);
    actions.appendChild(del);
  }

  var ICON_COPY = '<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false"><rect x="9" y="9" width="11" height="11" rx="2" fill="none" stroke="currentColor" stroke-width="2"/><path d="M5 15V5a2 2 0 0 1 2-2h8" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"/></svg>';
  var ICON_TRASH = '<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false"><path d="M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/></svg>';

  // iconButton makes a button with a constant icon (markup of this file, never
  // data) and a text label that is visually hidden until it has news ("Copied").
  function iconButton(kind, label, icon) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "icon-btn " + kind;
    b.innerHTML = icon; // a constant of this file
    var s = document.createElement("span");
    s.className = "btn-label";
    s.textContent = label;
    b.appendChild(s);
    return b;
  }

  // timeElement is a <time> of the instant iso, reading text.
  function timeElement(iso, text) {
    var el = document.createElement("time");
    el.dateTime = iso;
    el.textContent = text;
    return el;
  }

  function cell(tr, tag, text) {
    var c = document.createElement(tag);
    c.textContent = text;
    tr.appendChild(c);
    return c;
  }

  // roleCell adds a cell naming the role of a link or guest.
  function roleCell(tr, role) {
    var c = cell(tr, "td", roleName(role));
    c.className = "role";
    c.setAttribute("data-role", role || "viewer");
    return c;
  }

  // guestRow starts a lobby or guest-list row: the guest's name as the row
  // header, then email and link name.
  function guestRow(g) {
    var tr = document.createElement("tr");
    var name = cell(tr, "th", g.name);
    name.setAttribute("scope", "row");
    name.className = "guest-name";
    cell(tr, "td", g.email).className = "email";
    // An invitee came by an invitation, not a named link: say so in the
    // page's language.
    cell(tr, "td", /^i_/.test(g.link_id) ? t("moderator.guests.invitation") : g.link_name);
    return tr;
  }

  // rebuild replaces the rows of the table body name + "-body" with row(item)
  // for each of items, keeping the keyboard focus on the control with the same
  // data-key, when there still is one. key says what the rows show: when it is
  // the key of the rows there, nothing changes.
  function rebuild(name, key, items, row) {
    if (key === rendered[name]) return;
    rendered[name] = key;
    var tbody = $(name + "-body");
    var active = document.activeElement;
    var focusKey = active && tbody.contains(active) ? active.getAttribute("data-key") : null;
    tbody.textContent = "";
    items.forEach(function (it) { tbody.appendChild(row(it)); });
    labelCells(tbody);
    if (focusKey) {
      var again = tbody.querySelector('[data-key="' + CSS.escape(focusKey) + '"]');
      if (again) again.focus();
      else if (tbody.closest("section")) focusSection(tbody.closest("section"));
    }
  }

  // labelCells gives every cell its column's name (data-label), which the
  // narrow layout shows above the value, where the table header is hidden.
  function labelCells(tbody) {
    var heads = Array.prototype.map.call(tbody.closest("table").querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    Array.prototype.forEach.call(tbody.rows, function (tr) {
      Array.prototype.forEach.call(tr.cells, function (c, i) {
        if (heads[i]) c.setAttribute("data-label", heads[i]);
      });
    });
  }

  function focusSection(section) {
    var h = section.querySelector("h1, h2");
    if (!h) return;
    h.tabIndex = -1;
    h.focus();
  }

  // ---- guest access switch ----

  function onAccessChange() {
    var sw = $("access-switch");
    var want = sw.checked;
    if (accessPending) { sw.checked = !want; return; }
    accessPending = true;
    sw.setAttribute("aria-busy", "true");
    api("PUT", roomPath("/guest-access"), { enabled: want }).then(function (data) {
      room = data;
      showAlert("");
      renderRoom();
    }, function (e) {
      sw.checked = !want;
      fail(e);
    }).then(function () {
      accessPending = false;
      sw.removeAttribute("aria-busy");
    });
  }

  // ---- the forms of the dialogs: Create new link and Invite someone ----

  // A form is the dialog's elements; opensHint, the message key of the hint
  // of its "Opens at"; fields, the map of the API's field names to the inputs
  // where their errors show; errors, the start of the fields' message keys;
  // stale, the API's error codes that say the page's view is
  // out of date, and refresh, what brings it up to date.
  var LINK_FORM = {
    dialog: "create-dialog", form: "create-form", submit: "create-submit", error: "create-error",
    opens: "link-opens", opensHint: "moderator.create.opens_hint", errors: "moderator.error.field.",
    stale: ["link_limit", "guest_access_off", "gallery_room"], refresh: refreshRoom,
    fields: { name: "link-name", role: "link-role", max_clicks: "link-clicks", duration_days: "link-days", not_before: "link-opens" }
  };
  var INVITE_FORM = {
    dialog: "invite-dialog", form: "invite-form", submit: "invite-submit", error: "invite-error",
    opens: "invite-opens", opensHint: "moderator.invites.opens_hint", errors: "moderator.invites.error.",
    stale: ["invitation_limit", "gallery_room"], refresh: refreshInvites,
    fields: { email: "invite-email", name: "invite-name", role: "invite-role", max_uses: "invite-uses", duration_hours: "invite-duration", not_before: "invite-opens" }
  };

  function setFieldError(inputId, text) {
    var input = $(inputId);
    var err = $(inputId + "-error");
    err.textContent = text;
    err.hidden = !text;
    if (text) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  // openForm opens the dialog of f empty, with the focus in first.
  function openForm(f, first) {
    $(f.form).reset();
    $(f.opens + "-hint").textContent = t(f.opensHint, zoneName());
    Object.keys(f.fields).forEach(function (k) { setFieldError(f.fields[k], ""); });
    $(f.error).hidden = true;
    openDialog($(f.dialog), $(first));
  }

  // disabledReason announces the reason beside a button that looks disabled,
  // for screen readers, and reports whether there was one.
  function disabledReason(btn, reason) {
    if ($(btn).getAttribute("aria-disabled") !== "true") return false;
    announce($(reason).textContent);
    return true;
  }

  function openCreate() {
    if (disabledReason("create-open", "create-reason")) return;
    openForm(LINK_FORM, "link-name");
  }

  // wholeNumber reads a number input: undefined when it breaks the rule (not
  // a whole number from min to max), null when empty and not required.
  function wholeNumber(input, min, max, required) {
    var v = input.value.trim();
    if (input.validity.badInput) return undefined;
    if (v === "") return required ? undefined : null;
    var n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) return undefined;
    return n;
  }

  // readOpens reads "Opens at", a local date and time of the moderator's zone
  // (a datetime-local value, which Date reads as local), into body.not_before:
  // the API takes an instant, so it goes as RFC 3339 in UTC. Empty: open at
  // once. The API alone judges it, against its own clock (before the expiry,
  // at most 365 days ahead).
  function readOpens(input, body, bad) {
    if (input.validity.badInput) {
      bad.push("not_before");
    } else if (input.value !== "") {
      var at = new Date(input.value);
      if (isNaN(at.getTime())) bad.push("not_before");
      else body.not_before = at.toISOString();
    }
  }

  // validName reports whether a name, trimmed, has 1 to max characters.
  function validName(name, max) {
    name = name.trim();
    return name !== "" && Array.from(name).length <= max;
  }

  // The rules of a new link, as the API checks them (docs/DESIGN.md sections
  // 1 and 7): a name of 1 to 80 characters, clicks a whole number of 1 or more,
  // days a whole number from 1 to 365; empty clicks or days mean no limit. The
  // role is one of the list's.
  var LINK_RULES = {
    max_clicks: { min: 1, max: Infinity },
    duration_days: { min: 1, max: 365 }
  };

  // linkBody reads the create form: the body to send, and every field that
  // breaks a rule, so that all of them show at once.
  function linkBody() {
    var body = { name: $("link-name").value, role: $("link-role").value };
    var bad = [];
    if (!validName(body.name, 80)) bad.push("name");
    ["max_clicks", "duration_days"].forEach(function (f) {
      var r = LINK_RULES[f];
      var n = wholeNumber($(LINK_FORM.fields[f]), r.min, r.max, false);
      if (n === undefined) bad.push(f);
      else if (n !== null) body[f] = n;
    });
    readOpens($("link-opens"), body, bad);
    return { body: body, bad: bad };
  }

  // showFieldErrors marks every field of fields (API field names) of f as
  // wrong, and clears the others, then puts the focus in the first.
  function showFieldErrors(f, fields) {
    Object.keys(f.fields).forEach(function (k) {
      setFieldError(f.fields[k], fields.indexOf(k) >= 0 ? t(f.errors + k) : "");
    });
    var first = $(f.form).querySelector("[aria-invalid=true]");
    if (first) first.focus();
  }

  // submitForm checks the form f with read (which returns {body, bad}),
  // shows every fault beside its field, or posts the body to the room's path
  // and, when created, closes the dialog and calls done with the answer. The
  // API's faults show beside their fields too, and any other error in the
  // dialog; an error of f.stale refreshes the page's view.
  function submitForm(f, read, path, done) {
    var submit = $(f.submit);
    if (submit.getAttribute("aria-busy") === "true") return;
    var form = read();
    $(f.error).hidden = true;
    showFieldErrors(f, form.bad);
    if (form.bad.length) return;
    submit.setAttribute("aria-busy", "true");
    api("POST", roomPath(path), form.body).then(function (created) {
      closeDialog($(f.dialog));
      return done(created);
    }, function (e) {
      if (e.status === 401) return;
      var known = e.fields.map(function (x) { return x.field; }).filter(function (x) { return f.fields[x]; });
      if (known.length) {
        showFieldErrors(f, known);
        return;
      }
      $(f.error).textContent = errorText(e);
      $(f.error).hidden = false;
      if (f.stale.indexOf(e.code) >= 0) f.refresh().catch(function () {});
    }).then(function () {
      submit.removeAttribute("aria-busy");
    });
  }

  function onCreate(ev) {
    ev.preventDefault();
    submitForm(LINK_FORM, linkBody, "/links", function (link) {
      announce(t("moderator.links.created", link.name));
      return refreshRoom();
    });
  }

  // copyURL copies url for the button btn, whose label is label; where the
  // browser blocks it, the URL shows selected in the fallback box (an
  // element with an input) for the moderator to copy.
  function copyURL(btn, url, label, box) {
    var done = function () { markCopied(btn, label); };
    var fallback = function () {
      var input = box.querySelector("input");
      input.value = url;
      box.hidden = false;
      input.focus();
      input.select();
      input.oncopy = done;
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(url).then(function () {
        box.hidden = true;
        done();
      }, fallback);
    } else {
      fallback();
    }
  }

  function markCopied(btn, label) {
    var text = btn.querySelector(".btn-label");
    btn.classList.add("copied");
    text.textContent = t("moderator.action.copied");
    announce(t("moderator.action.copied"));
    clearTimeout(btn._copiedTimer);
    btn._copiedTimer = setTimeout(function () {
      btn.classList.remove("copied");
      text.textContent = label;
    }, COPIED_MS);
  }

  function deleteLink(l) {
    confirmDialog({
      title: t("moderator.delete.title"),
      body: t("moderator.delete.body", l.name),
      warning: t("moderator.delete.warning"),
      ok: t("moderator.action.delete"),
    }).then(function (yes) {
      if (!yes) return;
      api("DELETE", roomPath("/links/" + encodeURIComponent(l.id))).then(function () {
        announce(t("moderator.links.deleted", l.name));
        return refreshRoom();
      }, function (e) {
        if (e.status === 404) return refreshRoom();
        fail(e);
      }).then(function () {
        // The row, and its button, are gone: keep the keyboard in the window.
        if (!document.activeElement || document.activeElement === document.body) $("create-open").focus();
      });
    });
  }

  // ---- invitations ----

  function refreshInvites() {
    if (!room) return Promise.resolve();
    return api("GET", roomPath("/invitations")).then(renderInvites);
  }

  // renderInvitesState says whether invitations can be made here: not for
  // gallery rooms. An unavailable room may get them; they work once it is
  // available again, and the table says so meanwhile.
  function renderInvitesState() {
    var reason = room.kind === "gallery" ? t("moderator.invites.disabled_gallery") : "";
    $("invite-open").setAttribute("aria-disabled", reason ? "true" : "false");
    $("invite-reason").textContent = reason;
    $("invite-reason").hidden = !reason;
  }

  var lastInvites = [];

  function renderInvites(list) {
    lastInvites = list || [];
    var n = lastInvites.length;
    $("invites-empty").hidden = n > 0;
    $("invites-wrap").hidden = n === 0;
    var key = lang + JSON.stringify(lastInvites) + room.available;
    rebuild("invites", key, lastInvites, function (v) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-invitation", v.id);
      var name = cell(tr, "th", v.name);
      name.setAttribute("scope", "row");
      name.className = "guest-name";
      cell(tr, "td", v.email).className = "email";
      roleCell(tr, v.role);

      var uses = cell(tr, "td", "");
      uses.className = "uses";
      var frac = document.createElement("span");
      frac.dir = "ltr"; // "used / max" reads left to right in every language
      frac.textContent = v.max_uses == null ? t("moderator.invites.uses_unlimited", v.uses) : t("moderator.links.clicks_used", v.uses, v.max_uses);
      uses.appendChild(frac);

      var exp = cell(tr, "td", "");
      exp.className = "expires";
      exp.appendChild(timeElement(v.expires_at, formatDateTime(v.expires_at)));

      var st = cell(tr, "td", "");
      st.className = "state";
      var state = openState(v, v.max_uses != null && v.uses >= v.max_uses, false);
      if (state) {
        st.appendChild(stateBadge(state));
      } else {
        st.textContent = t("moderator.invites.active");
        st.classList.add("state-admitted");
      }

      copyDeleteCell(tr, v.id, v.url, t("moderator.invites.copy_named", v.name), $("invite-copy-fallback"),
        t("moderator.invites.revoke_named", v.name), function () { revokeInvitation(v); });
      return tr;
    });
  }

  function openInvite() {
    if (disabledReason("invite-open", "invite-reason")) return;
    openForm(INVITE_FORM, "invite-email");
    $("invite-uses").disabled = false;
  }

  // The rules of a new invitation, as the API checks them (docs/DESIGN.md
  // section 8): an email address (the API judges it fully), a name of 1 to
  // 100 characters, uses a whole number of 1 or more unless unlimited, a
  // validity of 1 to 8760 hours (365 days).
  function inviteBody() {
    var body = { email: $("invite-email").value.trim(), name: $("invite-name").value, role: $("invite-role").value };
    var bad = [];
    if (!/^[^@\s]+@[^@\s]+$/.test(body.email)) bad.push("email");
    if (!validName(body.name, 100)) bad.push("name");
    if ($("invite-unlimited").checked) {
      body.max_uses = null;
    } else {
      var uses = wholeNumber($("invite-uses"), 1, Infinity, true);
      if (uses === undefined) bad.push("max_uses");
      else body.max_uses = uses;
    }
    var unit = Number($("invite-unit").value); // hours in one
    var n = wholeNumber($("invite-duration"), 1, Math.floor(8760 / unit), true);
    if (n === undefined) bad.push("duration_hours");
    else body.duration_hours = n * unit;
    readOpens($("invite-opens"), body, bad);
    // Sending by email, once the page offers it.
    if (!$("invite-send-field").hidden && $("invite-send").checked) body.send_email = true;
    return { body: body, bad: bad };
  }

  function onInvite(ev) {
    ev.preventDefault();
    submitForm(INVITE_FORM, inviteBody, "/invitations", function (v) {
      announce(t("moderator.invites.created", v.name));
      return refreshInvites();
    });
  }

  // ownInvitation is the invitation a moderator invitee signed in with (the
  // one of the guest who is the token's subject), or "".
  function ownInvitation() {
    if (!me || me.kind !== "moderator") return "";
    for (var i = 0; i < lastGuests.length; i++) {
      var g = lastGuests[i];
      if (g.id === me.sub && /^i_/.test(g.link_id)) return g.link_id;
    }
    return "";
  }

  function revokeInvitation(v) {
    var warning = t("moderator.invites.revoke.warning");
    if (v.id === ownInvitation()) warning = t("moderator.invites.revoke.own") + " " + warning;
    confirmDialog({
      title: t("moderator.invites.revoke.title"),
      body: t("moderator.invites.revoke.body", v.name, v.email),
      warning: warning,
      ok: t("moderator.invites.revoke"),
    }).then(function (yes) {
      if (!yes) return;
      api("DELETE", roomPath("/invitations/" + encodeURIComponent(v.id))).then(function () {
        announce(t("moderator.invites.revoked", v.name));
      }, function (e) {
        if (e.status !== 404) fail(e);
      }).then(function () {
        refreshGuests().catch(fail);
        return refreshInvites().catch(fail);
      }).then(function () {
        // The row, and its button, are gone: keep the keyboard in the section.
        if (!document.activeElement || document.activeElement === document.body) $("invite-open").focus();
      });
    });
  }

  // ---- lobby ----

  function refreshLobby() {
    if (!room || room.admission !== "moderator") return Promise.resolve();
    return api("GET", roomPath("/lobby")).then(renderLobby);
  }

  // setWaiting shows how many guests wait (the badge at the top, the tab's
  // title) and tells the moderator of the ones who just started.
  function setWaiting(guests) {
    var n = guests.length;
    var ids = guests.map(function (g) { return g.id; });
    var fresh = waitingIds === null ? [] : guests.filter(function (g) { return waitingIds.indexOf(g.id) < 0; });
    waitingIds = ids;
    waitingCount = n;
    var badge = $("waiting-badge");
    badge.hidden = n === 0;
    badge.textContent = plural("moderator.lobby.waiting_count", n);
    setTitle();
    if (fresh.length) knock(fresh);
  }

  // knock: a sound and a desktop notification, only when the moderator
  // turned them on.
  function knock(fresh) {
    if (!alerts) return;
    playKnock();
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    var body = fresh.length === 1 ? t("moderator.lobby.notify_one", fresh[0].name) : plural("moderator.lobby.notify_many", fresh.length);
    try {
      var n = new Notification(t("moderator.lobby.notify_title", room ? (room.name || room.id) : roomId), { body: body, tag: "guestgate-lobby-" + roomId, lang: lang, dir: document.documentElement.dir });
      n.onclick = function () { window.focus(); $("view-lobby").scrollIntoView(); n.close(); };
    } catch (e) {
      // Some browsers allow notifications only from a service worker.
    }
  }

  // playKnock plays two short knocks through the AudioContext made when the
  // moderator turned the alerts on.
  function playKnock() {
    if (!audio) return;
    var now = audio.currentTime;
    [0, 0.18].forEach(function (at) {
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.frequency.value = 180;
      gain.gain.setValueAtTime(0.0001, now + at);
      gain.gain.exponentialRampToValueAtTime(0.5, now + at + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.12);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + at);
      osc.stop(now + at + 0.13);
    });
  }

  // onAlerts is the toggle's change, a user gesture: the only moment the page
  // may start audio and ask for notifications.
  function onAlerts() {
    alerts = $("lobby-alerts").checked;
    var note = $("lobby-alerts-note");
    note.hidden = true;
    if (!alerts) return;
    var AC = window.AudioContext || window.webkitAudioContext;
    if (AC) {
      if (!audio) audio = new AC();
      if (audio.resume) audio.resume();
    }
    if (!("Notification" in window)) {
      note.textContent = t("moderator.lobby.alerts_no_notifications");
      note.hidden = false;
      return;
    }
    var told = function (p) {
      if (p !== "granted") {
        note.textContent = t("moderator.lobby.alerts_no_notifications");
        note.hidden = false;
      }
    };
    if (Notification.permission === "default") {
      var p = Notification.requestPermission(told);
      if (p && p.then) p.then(told);
    } else {
      told(Notification.permission);
    }
  }

  function renderLobby(guests) {
    var n = guests.length;
    setWaiting(guests);
    renderGuests(lastGuests);
    $("lobby-empty").hidden = n > 0;
    $("lobby-wrap").hidden = n === 0;
    $("admit-all").hidden = n < 2;
    var count = $("lobby-count");
    count.hidden = n === 0;
    count.textContent = plural("moderator.lobby.waiting_count", n);
    var key = lang + JSON.stringify(guests.map(function (g) { return [g.id, g.name, g.email, g.link_name]; }));
    rebuild("lobby", key, guests, function (g) {
      var tr = guestRow(g);
      var w = cell(tr, "td", "");
      w.className = "waited";
      w.setAttribute("data-since", g.waiting_since || g.redeemed_at);
      var actions = cell(tr, "td", "");
      actions.className = "actions-cell";
      var admit = textButton(t("moderator.action.admit"), t("moderator.action.admit_named", g.name), "btn-primary");
      admit.setAttribute("data-key", "admit:" + g.id);
      admit.addEventListener("click", function () { decide(g, "admit"); });
      var decline = textButton(t("moderator.action.decline"), t("moderator.action.decline_named", g.name), "");
      decline.setAttribute("data-key", "decline:" + g.id);
      decline.addEventListener("click", function () { decide(g, "deny"); });
      actions.appendChild(admit);
      actions.appendChild(decline);
      return tr;
    });
    $("lobby-body").querySelectorAll(".waited").forEach(function (td) {
      td.textContent = waitedFor(td.getAttribute("data-since"));
    });
  }

  // textButton is a button with visible text and, for screen readers, a name that
  // says whom it acts on ("Admit Ada").
  function textButton(text, name, cls) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "btn btn-small " + cls;
    b.textContent = text;
    b.setAttribute("aria-label", name);
    return b;
  }

  function decide(g, action) {
    api("POST", roomPath("/lobby/" + encodeURIComponent(g.id) + "/" + action)).then(function () {
      announce(t(action === "admit" ? "moderator.lobby.admitted" : "moderator.lobby.declined", g.name));
    }, function (e) {
      if (e.status !== 404 && e.code !== "already_decided") fail(e);
    }).then(afterDecision);
  }

  function admitAll() {
    api("POST", roomPath("/lobby/admit-all")).then(function (res) {
      announce(plural("moderator.lobby.admitted_count", (res && res.count) || 0));
    }, fail).then(afterDecision);
  }

  function afterDecision() {
    refreshLobby().catch(fail);
    refreshGuests().catch(fail);
  }

  // ---- guest list ----

  function refreshGuests() {
    return api("GET", roomPath("/guests?limit=1000")).then(function (data) {
      renderGuests((data && data.guests) || []);
    });
  }

  // guestState names what a guest is now: admitted, waiting (in the lobby),
  // gone from the lobby (waiting, but their page stopped asking for longer
  // than lobby_timeout), declined, removed or left.
  function guestState(g) {
    if (g.state === "waiting" && waitingIds !== null && waitingIds.indexOf(g.id) < 0) return "gone";
    return g.state;
  }

  // lastGuests is the guest list as last fetched, to render again when the
  // lobby changes.
  var lastGuests = [];

  function renderGuests(guests) {
    lastGuests = guests;
    // A guest in the lobby is listed there, with Admit and Decline, not twice.
    var inLobby = room && room.admission === "moderator" && waitingIds !== null ? waitingIds : [];
    var all = guests.length;
    guests = guests.filter(function (g) { return inLobby.indexOf(g.id) < 0; });
    $("guests-empty").textContent = t(all > 0 ? "moderator.guests.all_waiting" : "moderator.guests.empty");
    $("guests-empty").hidden = guests.length > 0;
    $("guests-wrap").hidden = guests.length === 0;
    var key = lang + JSON.stringify(guests.map(function (g) { return [g.id, g.name, g.email, g.link_name, g.role, guestState(g), g.blocked]; }));
    rebuild("guests", key, guests, function (g) {
      var tr = guestRow(g);
      roleCell(tr, g.role);
      var joined = cell(tr, "td", "");
      joined.appendChild(timeElement(g.redeemed_at, formatDateTime(g.redeemed_at)));
      var st = guestState(g);
      var state = cell(tr, "td", t("moderator.guests.state." + st));
      state.className = "state state-" + st;
      if (g.blocked) {
        // Admitted or waiting, but the way in is closed: say why.
        var b = document.createElement("span");
        b.className = "badge badge-warn blocked";
        b.setAttribute("data-blocked", g.blocked);
        b.textContent = t("moderator.guests.blocked." + g.blocked);
        state.appendChild(document.createTextNode(" "));
        state.appendChild(b);
      }
      var actions = cell(tr, "td", "");
      actions.className = "actions-cell";
      // Remove does something only for a guest who may still get in.
      if (g.state === "admitted" || g.state === "waiting") {
        var rm = textButton(t("moderator.action.remove"), t("moderator.action.remove_named", g.name), "");
        rm.setAttribute("data-key", "remove:" + g.id);
        rm.addEventListener("click", function () { removeGuest(g); });
        actions.appendChild(rm);
      }
      return tr;
    });
  }

  function removeGuest(g) {
    confirmDialog({
      title: t("moderator.guests.remove.title"),
      body: t("moderator.guests.remove.body", g.name),
      warning: "",
      ok: t("moderator.action.remove"),
    }).then(function (yes) {
      if (!yes) return;
      api("DELETE", roomPath("/guests/" + encodeURIComponent(g.id))).then(function () {
        announce(t("moderator.guests.removed", g.name));
      }, function (e) {
        if (e.status !== 404) fail(e);
      }).then(afterDecision);
    });
  }

  // downloadCSV fetches the guest list as CSV with the Bearer header (a plain
  // link cannot send it) and saves it through a blob URL.
  function downloadCSV() {
    request("GET", roomPath("/guests?format=csv")).then(function (res) {
      if (!res.ok) throw new ApiError(res.status);
      return res.blob();
    }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var a = document.createElement("a");
      a.href = url;
      a.download = "guests-" + roomId + ".csv";
      a.hidden = true;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 30000);
    }).catch(fail);
  }

  // ---- polling: while the page is visible, every POLL_MS ----

  function startPolling() {
    stopPolling();
    pollTimer = setTimeout(poll, POLL_MS);
  }

  function stopPolling() {
    clearTimeout(pollTimer);
    pollTimer = 0;
  }

  function poll() {
    pollTimer = 0;
    if (!room || !cred) return;
    if (document.visibilityState !== "visible") {
      // In another tab the lobby alone is asked, so that the title and the
      // alerts still tell of a guest who starts waiting.
      refreshLobby().catch(function () {}).then(function () {
        if (room && cred && !pollTimer) pollTimer = setTimeout(poll, POLL_MS);
      });
      return;
    }
    Promise.all([refreshRoom(), refreshLobby(), refreshGuests(), refreshInvites()]).then(function () {
      if ($("alert").textContent === errorText(new ApiError(0, "", "", true))) showAlert("");
    }, fail).then(function () {
      if (room && cred && !pollTimer) pollTimer = setTimeout(poll, POLL_MS);
    });
  }

  function onVisibility() {
    if (document.visibilityState === "visible" && room && cred && !pollTimer) poll();
  }

  // ---- dialogs: modal, focus kept inside, Escape closes ----

  function openDialog(dlg, first) {
    dlg._opener = document.activeElement;
    dlg.showModal();
    if (first) first.focus();
  }

  function closeDialog(dlg) {
    if (!dlg.open) return;
    dlg.close();
  }

  function closeDialogs() {
    document.querySelectorAll("dialog[open]").forEach(function (d) { d.close(); });
  }

  function onDialogClose(ev) {
    var dlg = ev.target;
    var back = dlg._opener;
    dlg._opener = null;
    if (back && document.contains(back) && back.focus) back.focus();
  }

  function trapFocus(ev) {
    if (ev.key !== "Tab") return;
    var dlg = ev.currentTarget;
    var items = Array.prototype.filter.call(
      dlg.querySelectorAll("button, input, select, textarea, a[href], [tabindex]:not([tabindex='-1'])"),
      function (el) { return !el.disabled && !el.hidden && el.offsetParent !== null; });
    if (items.length === 0) return;
    var first = items[0];
    var last = items[items.length - 1];
    if (ev.shiftKey && document.activeElement === first) {
      ev.preventDefault();
      last.focus();
    } else if (!ev.shiftKey && document.activeElement === last) {
      ev.preventDefault();
      first.focus();
    }
  }

  var confirmResolve = null;

  function confirmDialog(opts) {
    var dlg = $("confirm-dialog");
    $("confirm-title").textContent = opts.title;
    $("confirm-body").textContent = opts.body;
    $("confirm-warning").textContent = opts.warning;
    $("confirm-warning").hidden = !opts.warning;
    $("confirm-ok").textContent = opts.ok;
    // A confirmation closed a moment ago may still have its close event queued:
    // settle it now, so that the event cannot close this one.
    if (confirmResolve) settleConfirm(false);
    return new Promise(function (resolve) {
      confirmResolve = resolve;
      dlg.returnValue = "";
      openDialog(dlg, $("confirm-cancel"));
    });
  }

  function settleConfirm(yes) {
    var resolve = confirmResolve;
    confirmResolve = null;
    closeDialog($("confirm-dialog"));
    if (resolve) resolve(yes);
  }

  // ---- start ----

  function bind() {
    $("signin-form").addEventListener("submit", onSignin);
    $("signout").addEventListener("click", signOut);
    $("picker-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var id = !$("picker-select-field").hidden ? $("picker-select").value : $("picker-input").value.trim();
      if (!id) return;
      setRoom(id);
      openRoom();
    });
    $("change-room").addEventListener("click", function () { showPicker(""); });
    $("access-switch").addEventListener("change", onAccessChange);
    $("create-open").addEventListener("click", openCreate);
    $("create-form").addEventListener("submit", onCreate);
    $("create-cancel").addEventListener("click", function () { closeDialog($("create-dialog")); });
    $("create-close").addEventListener("click", function () { closeDialog($("create-dialog")); });
    $("invite-open").addEventListener("click", openInvite);
    $("invite-form").addEventListener("submit", onInvite);
    $("invite-cancel").addEventListener("click", function () { closeDialog($("invite-dialog")); });
    $("invite-close").addEventListener("click", function () { closeDialog($("invite-dialog")); });
    $("invite-unlimited").addEventListener("change", function () {
      $("invite-uses").disabled = $("invite-unlimited").checked;
      if ($("invite-unlimited").checked) setFieldError("invite-uses", "");
    });
    $("confirm-cancel").addEventListener("click", function () { settleConfirm(false); });
    $("confirm-ok").addEventListener("click", function () { settleConfirm(true); });
    $("confirm-dialog").addEventListener("close", function () {
      // The close event is dispatched after the dialog closed; if it was opened
      // again meanwhile, the event belongs to the earlier confirmation.
      if (!$("confirm-dialog").open) settleConfirm(false);
    });
    document.querySelectorAll("dialog").forEach(function (d) {
      d.addEventListener("keydown", trapFocus);
      d.addEventListener("close", onDialogClose);
    });
    $("admit-all").addEventListener("click", admitAll);
    $("lobby-message-form").addEventListener("submit", onLobbyMessage);
    $("lobby-message-input").addEventListener("input", function () { setFieldError("lobby-message-input", ""); });
    $("lobby-message-clear").addEventListener("click", function () { sendLobbyMessage("DELETE"); });
    $("lobby-alerts").addEventListener("change", onAlerts);
    $("guests-refresh").addEventListener("click", function () {
      Promise.all([refreshRoom(), refreshLobby(), refreshGuests(), refreshInvites()]).catch(fail);
    });
    $("guests-csv").addEventListener("click", downloadCSV);
    document.addEventListener("visibilitychange", onVisibility);
    // A new token pasted into the address bar of an open page.
    window.addEventListener("hashchange", function () {
      if (location.hash.indexOf("token=") < 0) return;
      readFragment();
      roomId = new URLSearchParams(location.search).get("room") || "";
      stopPolling();
      closeDialogs();
      cred = sessionStorage.getItem(STORE) || "";
      signedIn().catch(function (e) {
        if (e && e.status !== 401) fail(e);
      });
    });
  }

  function start() {
    bind();
    readFragment();
    roomId = new URLSearchParams(location.search).get("room") || "";
    loadMessages().then(function () {
      cred = sessionStorage.getItem(STORE) || "";
      if (!cred) {
        showSignin("");
        return;
      }
      signedIn().catch(function (e) {
        if (e && e.status === 401) return;
        show("signin");
        fail(e);
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
