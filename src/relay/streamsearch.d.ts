// Types for streamsearch 1.x (Boyer-Moore-Horspool over a stream), which ships none.
declare module 'streamsearch' {
  type OnInfo = (isMatch: boolean, data: Buffer | undefined, start: number, end: number, isDataSafe: boolean) => void;
  export default class StreamSearch {
    constructor(needle: Buffer | string, onInfo: OnInfo);
    push(chunk: Buffer, pos?: number): number;
    reset(): void;
    destroy(): void;
  }
}
