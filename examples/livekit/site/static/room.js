// The LiveKit demo room: guestgate's token endpoint gives this guest a
// LiveKit token for their room (an endpoint TokenSource; the session cookie
// says who the guest is), and the page lists the participants with their
// names and roles. Speakers and moderators may turn on camera and
// microphone; viewers may not publish, and LiveKit would refuse them.
(async () => {
  const LK = window.LivekitClient;
  const status = document.getElementById('status');
  const list = document.getElementById('participants');
  const videos = document.getElementById('videos');
  const mediaButton = document.getElementById('media');
  const room = new LK.Room();

  const render = () => {
    const people = [room.localParticipant, ...room.remoteParticipants.values()];
    list.replaceChildren(...people.map((p) => {
      const li = document.createElement('li');
      li.dataset.identity = p.identity;
      li.textContent = p.name || p.identity;
      const role = document.createElement('span');
      role.className = 'role';
      role.textContent = ` (${p.attributes['guestgate.role'] || 'viewer'}${p === room.localParticipant ? ', you' : ''})`;
      li.append(role);
      return li;
    }));
  };
  for (const ev of [LK.RoomEvent.ParticipantConnected, LK.RoomEvent.ParticipantDisconnected,
    LK.RoomEvent.ParticipantAttributesChanged, LK.RoomEvent.ParticipantNameChanged]) {
    room.on(ev, render);
  }
  room.on(LK.RoomEvent.TrackSubscribed, (track) => {
    const el = track.attach();
    el.dataset.sid = track.sid;
    videos.append(el);
  });
  room.on(LK.RoomEvent.TrackUnsubscribed, (track) => track.detach().forEach((el) => el.remove()));
  room.on(LK.RoomEvent.Disconnected, () => {
    status.textContent = 'You left the room, or were removed from it.';
    mediaButton.hidden = true;
  });

  try {
    const tokens = LK.TokenSource.endpoint('/guest/livekit/token');
    const { serverUrl, participantToken } = await tokens.fetch({});
    await room.connect(serverUrl, participantToken);
  } catch (err) {
    status.textContent = `Could not join the room: ${err.message}`;
    return;
  }
  document.getElementById('room-name').textContent = room.name;
  status.textContent = 'Connected.';
  render();
  if (room.localParticipant.permissions?.canPublish) {
    let on = false;
    mediaButton.hidden = false;
    mediaButton.addEventListener('click', async () => {
      on = !on;
      await room.localParticipant.setCameraEnabled(on);
      await room.localParticipant.setMicrophoneEnabled(on);
      mediaButton.textContent = on ? 'Turn camera and microphone off' : 'Turn camera and microphone on';
    });
  }
})();
