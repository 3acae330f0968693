#!/usr/bin/env node
// Plays a Storyteller quest to an ending from Node.js, with @grpc/grpc-js and the .proto files
// loaded at run time by @grpc/proto-loader (no code generation).
//
//   node playthrough.js [--address 127.0.0.1:50051] [--graph lighthouse_mystery] [--seed 7] [--token T]
//   (or STORYTELLER_ADDRESS, STORYTELLER_GRAPH, STORYTELLER_SEED, STORYTELLER_TOKEN)
//
// Each turn: Narrate the current beat (server-streamed, printed as it arrives), let one NPC in the
// beat speak to the player (NpcLine, streamed, its emotion fed back into the session), list the
// choices and take one: a seeded pick among the available ones, preferring beats not visited yet.
// Once, it also starts a long narration and cancels it after the first chunk (a skipped cutscene):
// the call then ends with status CANCELLED and the server stops generating.
// Without a story model on the server, Narrate answers UNAVAILABLE and the quest is played without
// prose. Exit code 0 when an ending was reached; the last line is a JSON summary, e.g.
// {"ending":"ending_truth","steps":6,"lines":5,"narrations":7,"cancelled":true,"prose":true}
'use strict';

const path = require('node:path');
const { parseArgs } = require('node:util');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

// The contract, straight from the repository's proto/ folder. keepCase: fields keep their .proto
// names (session_id, text_delta); enums travel as their names; int64 (step) as strings.
const PROTO_ROOT = path.resolve(__dirname, '..', '..', '..', 'proto');
const definition = protoLoader.loadSync('storyteller/v1/narrative.proto', {
  includeDirs: [PROTO_ROOT],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
});
const { NarrativeService } = grpc.loadPackageDefinition(definition).storyteller.v1;

const MAX_TURNS = 50;
const INTENTS = ['NPC_INTENT_GREET', 'NPC_INTENT_INFORM', 'NPC_INTENT_WARN'];

const { values: args } = parseArgs({
  options: {
    address: { type: 'string', default: process.env.STORYTELLER_ADDRESS || '127.0.0.1:50051' },
    graph: { type: 'string', default: process.env.STORYTELLER_GRAPH || 'lighthouse_mystery' },
    seed: { type: 'string', default: process.env.STORYTELLER_SEED || '7' },
    token: { type: 'string', default: process.env.STORYTELLER_TOKEN || '' },
  },
});
const seed = Number.parseInt(args.seed, 10);

function metadata() {
  const md = new grpc.Metadata();
  if (args.token) md.set('authorization', `Bearer ${args.token}`);
  return md;
}

const deadline = (seconds) => Date.now() + seconds * 1000;

// A small seeded generator (mulberry32): same seed, same server, same playthrough.
function seededRandom(state) {
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, metadata(), { deadline: deadline(10) }, (err, response) =>
      err ? reject(err) : resolve(response));
  });
}

// A server-streamed generation (Narrate or NpcLine): writes the text deltas as they arrive and
// resolves with the text and the final chunk's summary. With cancelAfterFirst, cancels the call after
// its first chunk and resolves with cancelled = true once the status CANCELLED comes back.
function streamed(client, method, request, { cancelAfterFirst = false } = {}) {
  return new Promise((resolve, reject) => {
    const call = client[method](request, metadata(), { deadline: deadline(60) });
    let text = '';
    let summary = null;
    call.on('data', (chunk) => {
      process.stdout.write(chunk.text_delta);
      text += chunk.text_delta;
      if (chunk.done) summary = chunk.summary;
      if (cancelAfterFirst) {
        cancelAfterFirst = false;
        call.cancel();
      }
    });
    let finished = false; // 'end' follows 'error' too: report once
    const finish = (cancelled, err) => {
      if (finished) return;
      finished = true;
      process.stdout.write('\n');
      if (err && !cancelled) reject(err);
      else resolve({ text, summary, cancelled });
    };
    call.on('error', (err) => finish(err.code === grpc.status.CANCELLED, err));
    call.on('end', () => finish(false)); // after the last 'data': the call ended OK
  });
}

async function main() {
  const client = new NarrativeService(args.address, grpc.credentials.createInsecure());
  const random = seededRandom(seed);
  const result = { ending: '', steps: 0, lines: 0, narrations: 0, cancelled: false, prose: true };
  try {
    let { session } = await unary(client, 'StartSession', { graph_id: args.graph });
    const sid = session.session_id;
    console.log(`session ${sid} on ${session.graph_id}`);

    for (let turn = 0; turn < MAX_TURNS; turn++) {
      const beat = session.current_beat;
      console.log(`\n== ${beat.beat_id} (${beat.location}): ${beat.summary}`);
      const sampling = { temperature: 0.8, top_k: 40, max_tokens: 48, seed: seed + turn + 1 };

      if (result.prose) {
        try {
          await streamed(client, 'Narrate', { session_id: sid, sampling });
          result.narrations += 1;
        } catch (err) {
          if (err.code !== grpc.status.UNAVAILABLE) throw err;
          console.log(`(no story model on the server: ${err.details}; playing on without prose)`);
          result.prose = false;
        }
      }

      if (result.prose && turn === 0) {
        process.stdout.write('(a long narration, skipped after its first chunk) ');
        const long = { ...sampling, max_tokens: 200, seed: seed + 1000 };
        const request = { session_id: sid, sampling: long };
        const skipped = await streamed(client, 'Narrate', request, { cancelAfterFirst: true });
        result.cancelled = skipped.cancelled;
        console.log(skipped.cancelled ? '(status CANCELLED: the server stops generating within one step)'
          : '(it ended before the cancel)');
      }

      const present = new Set(session.characters.filter((c) => c.present && !c.removed).map((c) => c.character_id));
      const speakers = beat.character_ids.filter((id) => present.has(id));
      if (result.prose && speakers.length > 0 && !session.ended) { // an ended session takes no more changes
        const speaker = speakers[turn % speakers.length];
        const intent = INTENTS[turn % INTENTS.length];
        process.stdout.write(`${speaker} (${intent}): `);
        const request = { session_id: sid, character_id: speaker, intent, sampling, apply_to_state: true };
        const { summary } = await streamed(client, 'NpcLine', request);
        result.lines += 1;
        const emotion = (summary && summary.detected_emotion) || {};
        console.log(`   emotion: ${emotion.top_ekman || '-'} (${emotion.top_label || '-'})`);
        for (const warning of (summary && summary.warnings) || []) {
          console.log(`   warning ${warning.code}: ${warning.message}`);
        }
        // The line changed the speaker's state (and the session's step): read it again.
        ({ session } = await unary(client, 'GetSession', { session_id: sid }));
      }

      if (session.ended) break;

      const { choices } = await unary(client, 'ListChoices', { session_id: sid });
      const available = choices.filter((c) => c.available);
      if (available.length === 0) {
        console.log(`dead end at ${beat.beat_id}: no choice available`);
        break;
      }
      const fresh = available.filter((c) => !session.visited.includes(c.to_beat_id));
      const pool = fresh.length > 0 ? fresh : available;
      const choice = pool[Math.floor(random() * pool.length)];
      console.log(`-> ${choice.text} [${choice.choice_id}]`);
      ({ session } = await unary(client, 'Choose', {
        session_id: sid, choice_id: choice.choice_id, expected_step: session.step,
      }));
      result.steps += 1;
    }

    result.ending = session.ended ? session.current_beat.beat_id : '';
    console.log(result.ending ? `\nending: ${result.ending} after ${result.steps} choices`
      : `\nno ending reached after ${result.steps} choices`);
  } catch (err) {
    console.error(`error: ${err.code !== undefined ? grpc.status[err.code] : ''} ${err.details || err.message}`);
    result.error = err.details || err.message;
  } finally {
    client.close();
  }
  console.log(JSON.stringify(result));
  process.exitCode = result.ending ? 0 : 1;
}

main();
