import { InputEmptyError, InputNotFoundError, NothingScheduledError } from '../errors';
import type { S3Location, TriggerKind } from './types';

/** What a listing of the run's input found: how many objects, and whether any of them holds a byte. */
export interface InputPresence {
  objects: number;
  bytes: number;
}

/**
 * A run only goes on to claim, crawl, size and launch when its input has data. A missing input fails with
 * Input.NotFound, an input of empty objects (folder markers, zero-byte files) with Input.Empty; each message
 * names the URI and what to do. A scheduled start without data is not a failure but nothing to do
 * (Schedule.NothingToDo, which run-job ends as a success): the schedule fires every day, data or not.
 */
export function checkInput(input: S3Location, presence: InputPresence, trigger: TriggerKind): void {
  if (trigger === 'schedule' && (presence.objects === 0 || presence.bytes === 0)) {
    const found = presence.objects === 0 ? 'no input' : `only empty objects (${presence.objects}, 0 bytes)`;
    throw new NothingScheduledError(input.uri, `nothing to do: ${found} at ${input.uri} for the scheduled run; nothing was claimed or created.`);
  }
  const upload = input.key.endsWith('/')
    ? `upload the data under ${input.uri} (locally: npx emrflow upload <file> ${input.uri}part-0001.json)`
    : `upload ${input.uri} (locally: npx emrflow upload <file> ${input.uri})`;
  if (presence.objects === 0) {
    throw new InputNotFoundError(
      input.uri,
      `${input.uri}: no such object or prefix; ${upload}, or start the run for a date or "input" that has data. No cluster was created.`,
    );
  }
  if (presence.bytes === 0) {
    throw new InputEmptyError(
      input.uri,
      `${input.uri}: ${presence.objects} object(s), all empty (0 bytes); ${upload}, or start the run for a date or "input" that has data. No cluster was created.`,
    );
  }
}
