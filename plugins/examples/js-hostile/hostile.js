// A deliberately hostile JavaScript policy, for tests only (tests/lang_js.rs).
//
// The prompt id of the request picks the misbehaviour: `loop` spins forever, `oom`
// allocates (and touches) memory until the instance's memory limit stops it, `raise`
// throws; any other request is allowed. The host must fail only that request (timeout,
// plugin-limit, plugin-trap) and keep serving the others. Built by
// plugins/examples/build.sh with the componentize-js of plugins/examples/js-renderer.

export const accessPolicy = {
  decide(request) {
    if (request.resource === 'loop') {
      let n = 0;
      for (;;) n++;
    }
    if (request.resource === 'oom') {
      const hoard = [];
      for (;;) hoard.push(new Uint8Array(1 << 20).fill(1));
    }
    if (request.resource === 'raise') throw new Error('hostile policy threw on purpose');
    return { tag: 'allow' };
  },
};
