// Fixes to postgres.js 3.4.9 (the latest release; unfixed upstream as of writing) for what it does when a
// connection is lost: killed backends, refused or reset connections, a proxy going away. Each was reproduced
// against a real PostgreSQL; the reproductions are test/db/driver-connection-loss.test.ts.
//
// Each patch replaces an exact piece of the driver's CommonJS build (cjs/src/), which must occur exactly once;
// postgres-driver.ts refuses to load a driver where one does not, so a new release gets looked at again.

export interface DriverPatch {
  file: 'connection.js' | 'index.js';
  why: string;
  find: string;
  replace: string;
}

export const DRIVER_PATCHES: DriverPatch[] = [
  {
    file: 'connection.js',
    why:
      'A socket that closes while a small write waits in setImmediate left nextWriteTimer set (cleared, not ' +
      'nulled) and the bytes in chunk: write() then never scheduled a flush again, so every later start-up ' +
      'message on that Connection stayed unsent and each reconnect ended in CONNECT_TIMEOUT.',
    find: `    clearImmediate(nextWriteTimer)
    socket.removeListener('data', data)
    socket.removeListener('connect', connected)
    idleTimer.cancel()`,
    replace: `    clearImmediate(nextWriteTimer)
    chunk = nextWriteTimer = null
    socket.removeListener('data', data)
    socket.removeListener('connect', connected)
    idleTimer.cancel()`,
  },
  {
    file: 'connection.js',
    why: 'The same stale write timer, left by terminate() (end(), idle_timeout, max_lifetime).',
    find: `    clearImmediate(nextWriteTimer)
    if (socket) {`,
    replace: `    clearImmediate(nextWriteTimer)
    chunk = nextWriteTimer = null
    if (socket) {`,
  },
  {
    file: 'connection.js',
    why:
      'A deferred write that runs after its socket is gone threw a TypeError from setImmediate, which no ' +
      'caller can catch: the process died. Fail the queries that were waiting on it instead.',
    find: `  function nextWrite(fn) {
    const x = socket.write(chunk, fn)`,
    replace: `  function nextWrite(fn) {
    if (!socket) {
      nextWriteTimer !== null && clearImmediate(nextWriteTimer)
      chunk = nextWriteTimer = null
      error(Errors.connection('CONNECTION_CLOSED', options))
      return false
    }
    const x = socket.write(chunk, fn)`,
  },
  {
    file: 'connection.js',
    why: 'A connect timeout after the socket is gone must not throw from its timer.',
    find: `    errored(Errors.connection('CONNECT_TIMEOUT', options, socket))
    socket.destroy()`,
    replace: `    errored(Errors.connection('CONNECT_TIMEOUT', options, socket))
    socket && socket.destroy()`,
  },
  {
    file: 'connection.js',
    why:
      'A close during start-up (or during the array-types query that follows it) reconnected at once with ' +
      'no backoff and settled nothing: the waiting query hung for as long as the server kept closing, and a ' +
      'pending types query was later rejected with nobody listening. Outside multi-host fail-over, fail the ' +
      'waiting queries and back off like any failed connect. Fail a query that arrived between the socket ' +
      'error and its close too (it was never settled). Then forget the old backend: its unfinished ' +
      'query and error (57P01 after pg_terminate_backend) were kept and handed to the next connection, whose ' +
      'first query failed with them, or which swallowed a start-up error into them and hung.',
    find: `    if (initial)
      return reconnect()

    !hadError && (query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))
    closedTime = performance.now()
    hadError && options.shared.retries++`,
    replace: `    if (initial && options.host.length > 1)
      return reconnect()

    const starting = !!initial
    ;(starting || query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))
    query = results = errorResponse = final = null
    result = new Result()
    rows = 0
    closedTime = performance.now()
    ;(hadError || starting) && options.shared.retries++`,
  },
  {
    file: 'connection.js',
    why:
      'A connection asked to end while a query ran, whose socket then closed, never finished ending: ' +
      'sql.end() without a timeout waited forever (a process that never exits).',
    find: `    onclose(connection, Errors.connection('CONNECTION_CLOSED', options, socket))`,
    replace: `    ended && (ended(), ending = ended = null)
    onclose(connection, Errors.connection('CONNECTION_CLOSED', options, socket))`,
  },
  {
    file: 'connection.js',
    why:
      "The array-types query's failure was an unhandled rejection (a crash under Node's default). The same " +
      'failure already fails the query waiting for the connection, so nothing is lost by catching it.',
    find: `        return fetchArrayTypes()`,
    replace: `        return fetchArrayTypes().catch(noop)`,
  },
  {
    file: 'connection.js',
    why:
      'A reconnect whose connect() throws (a bad socket option, a TLS set-up error) was an unhandled rejection ' +
      'from a timer; fail the waiting query and close instead.',
    find: `    setTimeout(connect, closedTime ? Math.max(0, closedTime + delay - performance.now()) : 0)`,
    replace: `    setTimeout(() => connect().catch(err => {
      error(err)
      socket && socket.destroy()
    }), closedTime ? Math.max(0, closedTime + delay - performance.now()) : 0)`,
  },
  {
    file: 'connection.js',
    why:
      'Authentication steps are async and their promises were dropped: a failure (a password function that ' +
      'throws, a malformed SCRAM message, a write after the socket closed) was an unhandled rejection.',
    find: `  async function Authentication(x, type = x.readUInt32BE(5)) {
    (
      type === 3 ? AuthenticationCleartextPassword :
      type === 5 ? AuthenticationMD5Password :
      type === 10 ? SASL :
      type === 11 ? SASLContinue :
      type === 12 ? SASLFinal :
      type !== 0 ? UnknownAuth :
      noop
    )(x, type)
  }`,
    replace: `  async function Authentication(x, type = x.readUInt32BE(5)) {
    try {
      await (
        type === 3 ? AuthenticationCleartextPassword :
        type === 5 ? AuthenticationMD5Password :
        type === 10 ? SASL :
        type === 11 ? SASLContinue :
        type === 12 ? SASLFinal :
        type !== 0 ? UnknownAuth :
        noop
      )(x, type)
    } catch (err) {
      errored(err)
      socket && socket.destroy()
    }
  }`,
  },
  {
    file: 'index.js',
    why:
      "A transaction whose connection closed went on sending its callback's later queries, its automatic " +
      'ROLLBACK or COMMIT included, to the same Connection object: onto a null socket (the TypeError above) ' +
      "or onto the replacement session, outside the transaction. They now fail with the connection's error, " +
      'and so do queries queued inside the transaction.',
    find: `      , prepare = null

    try {
      await sql.unsafe('begin ' + options.replace(/[^a-z ]/ig, ''), [], { onexecute }).execute()
      return await Promise.race([
        scope(connection, fn),
        new Promise((_, reject) => connection.onclose = reject)
      ])`,
    replace: `      , prepare = null
      , closedError = null

    try {
      await sql.unsafe('begin ' + options.replace(/[^a-z ]/ig, ''), [], { onexecute }).execute()
      return await Promise.race([
        scope(connection, fn),
        new Promise((_, reject) => connection.onclose = err => {
          closedError = err
          while (queries.length)
            queries.shift().reject(err)
          reject(err)
        })
      ])`,
  },
  {
    file: 'index.js',
    why: 'The transaction side of the previous patch: refuse work once the connection has closed.',
    find: `        q.catch(e => uncaughtError || (uncaughtError = e))
`,
    replace: `        q.catch(e => uncaughtError || (uncaughtError = e))
        if (closedError)
          return q.reject(closedError)
`,
  },
  {
    file: 'index.js',
    why:
      'A reserve() whose connection failed to start was rejected but stayed in the pool queue: the next ' +
      'connection to open was handed to it, that is to nobody, and never used again.',
    find: `        const query = { reserve: resolve, reject }`,
    replace: `        const query = { reserve: resolve, reject: err => (queries.remove(query), reject(err)) }`,
  },
  {
    file: 'index.js',
    why:
      'The same for sql.reserve(): after its connection closed, its queries went to a null socket or another ' +
      'session, and release() put the closed connection back among the open ones.',
    find: `    const sql = Sql(handler)
    sql.release = () => {
      c.reserved = null
      onopen(c)
    }

    return sql

    function handler(q) {
      c.queue === full`,
    replace: `    let closedError = null
    c.onclose = err => {
      closedError = err
      while (queue.length)
        queue.shift().reject(err)
    }
    const sql = Sql(handler)
    sql.release = () => {
      if (closedError)
        return
      c.onclose = null
      c.reserved = null
      onopen(c)
    }

    return sql

    function handler(q) {
      if (closedError)
        return q.reject(closedError)
      c.queue === full`,
  },
];
