/**
 * Replay fixtures (test/fixtures/histories/*.json): a workflow history as the JSON of its proto
 * message (enum names, 64-bit numbers and bytes as strings), read back into a History. Written by
 * test/support/record-histories.ts, replayed by test/time-skipping/replay-compat.test.ts.
 *
 * Not `historyToJSON` of @temporalio/common: its protobufjs JSON extension refuses the History
 * type of @temporalio/proto in this install (two protobufjs copies).
 */
import proto from '@temporalio/proto';

type History = proto.temporal.api.history.v1.IHistory;
const { History } = proto.temporal.api.history.v1;

export function historyToFixture(history: History): string {
  const object = History.toObject(History.fromObject(history), {
    longs: String,
    enums: String,
    bytes: String,
  });
  return JSON.stringify(object);
}

export function historyFromFixture(json: string): History {
  return History.fromObject(JSON.parse(json));
}
