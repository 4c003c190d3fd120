// Whether the stream lost records of a turn (Redis restarted without them): the twin of the
// Python reader's `_track` and `_check_marks` (agentchat/stream/_reader.py). No DOM.
//
// Every record carries `p` (its producer), `a` (the producer's attempt) and `seq` (1, 2, 3, ...
// within that attempt); `turn-end` carries `marks`: producer -> {seq: last seq written,
// attempt}. A record is lost when a producer's `seq` jumps, when a reader that saw the turn's
// `turn-start` never sees a producer the marks name, or when a mark is above what was read.
// A reader that joined mid-turn judges only what it saw.

/** What one reader saw of one turn, record by record; `lost` names a producer it lost. */
export class TurnGaps {
  constructor() {
    /** @type {Map<string, {attempt: number, seq: number}>} producer -> what was read of it */
    this.seqs = new Map();
    /** whether the reader saw the turn's start record (so saw every producer whole) */
    this.fromStart = false;
    /** the first producer some of whose records were lost, or null */
    this.lost = null;
  }

  /** Note one record of the turn (any kind, in stream order); answers `lost`. */
  note(env) {
    if (!env || typeof env !== 'object') return this.lost;
    if (env.k === 'turn-start') this.fromStart = true;
    if (env.seq !== undefined && env.seq !== null) this.track(env);
    if (env.k === 'turn-end') this.checkMarks(env.marks);
    return this.lost;
  }

  /** A record's place in its producer's numbering: a jump is a lost record. */
  track(env) {
    const producer = String(env.p ?? '');
    const attempt = whole(env.a ?? 1);
    const seq = whole(env.seq);
    if (attempt === null || seq === null) return;
    const seen = this.seqs.get(producer);
    let expected;
    if (!seen) {
      expected = this.fromStart ? 1 : seq;
    } else if (attempt === seen.attempt) {
      if (seq <= seen.seq) return; // read again
      expected = seen.seq + 1;
    } else if (attempt > seen.attempt) {
      expected = 1; // a new attempt numbers from 1, right after its attempt-start
    } else {
      return; // a superseded attempt's late write
    }
    if (seq !== expected) this.lose(producer);
    this.seqs.set(producer, { attempt, seq });
  }

  /** Compare what each producer wrote (the turn's end record says) with what was read. */
  checkMarks(marks) {
    if (!marks || typeof marks !== 'object') return;
    for (const [producer, mark] of Object.entries(marks)) {
      const seq = whole(mark?.seq ?? 0) ?? 0;
      const attempt = mark?.attempt == null ? null : whole(mark.attempt);
      const seen = this.seqs.get(producer);
      if (!seen) {
        if (this.fromStart && seq > 0) this.lose(producer);
      } else if ((attempt !== null && seen.attempt < attempt) || seen.seq < seq) {
        this.lose(producer);
      }
    }
  }

  lose(producer) {
    if (this.lost === null) this.lost = producer;
  }
}

/** The record's number as an integer (as Python's int() reads it), or null. */
function whole(value) {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? Math.trunc(n) : null;
}
