// The texts clients read. Those piping-server also sends are kept word for word, since scripts match on them.

export const msg = {
  reservedPath: (path: string) => `[ERROR] Cannot send to the reserved path '${path}'. (e.g. '/mypath123')\n`,
  contentRange: (method: string) => `[ERROR] Content-Range is not supported for now in ${method}\n`,
  senderInvalidN: () => '[ERROR] Invalid "n" query parameter\n',
  receiverInvalidN: () => '[ERROR] Invalid query parameter "n"\n',
  nNotPositive: (n: number) => `[ERROR] n should > 0, but n = ${n}.\n`,
  nTooLarge: (n: number, max: number) => `[ERROR] n should be at most ${max}, but n = ${n}.\n`,
  established: (path: string) => `[ERROR] Connection on '${path}' has been established already.\n`,
  anotherSender: (path: string) => `[ERROR] Another sender has been connected on '${path}'.\n`,
  nMismatch: (expected: number, got: number) => `[ERROR] The number of receivers should be ${expected} but ${got}.\n`,
  receiversFull: () => '[ERROR] The number of receivers has reached limits.\n',
  serviceWorker: () => '[ERROR] Service Worker registration is rejected.\n',
  unsupportedMethod: (method: string) => `[ERROR] Unsupported method: ${method}.\n`,
  pathTooLong: (max: number) => `[ERROR] The path is too long (at most ${max} bytes).\n`,
  tooManyWaiting: (max: number) => `[ERROR] The server has too many waiting pipes (${max}); try again later.\n`,
  tooManyForClient: (max: number) =>
    `[ERROR] You have too many pipes waiting or in progress (${max}); finish some and try again.\n`,
  badMultipart: (reason: string) => `[ERROR] Malformed multipart/form-data: ${reason}.\n`,
  waitTimeout: (seconds: number) => `[ERROR] Nobody came to the other end within ${seconds} s; the pipe was closed.\n`,
  shuttingDown: () => '[ERROR] The server is shutting down; try again later.\n',
  notFound: (path: string) => `[ERROR] Not found: ${path}\n`,

  waiting: (n: number) => `[INFO] Waiting for ${n} receiver(s)...\n`,
  alreadyConnected: (k: number) => `[INFO] ${k} receiver(s) has/have been connected.\n`,
  receiverConnected: () => '[INFO] A receiver was connected.\n',
  start: (n: number) => `[INFO] Start sending to ${n} receiver(s)!\n`,
  sent: () => '[INFO] Sent successfully!\n',
  allReceived: () => '[INFO] All receiver(s) was/were received successfully.\n',
  receiverAborted: () => '[INFO] A receiver aborted.\n',
  allAborted: () => '[INFO] All receiver(s) was/were aborted halfway.\n',
  someAborted: (ok: number, aborted: number) =>
    `[INFO] ${ok} receiver(s) received successfully; ${aborted} aborted halfway.\n`,
  senderFailed: () => '[ERROR] Failed to send.\n',
  lengthMismatch: (declared: number, got: number) =>
    got > declared
      ? `[ERROR] The body ran past its Content-Length of ${declared} bytes; the receivers were cut.\n`
      : `[ERROR] The body ended after ${got} of the ${declared} bytes its Content-Length declared; the receivers were cut.\n`,
};
