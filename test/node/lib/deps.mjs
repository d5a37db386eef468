// deps.mjs -- the official client libraries the node tests drive soulgw with, from the pinned
// install in build/npm (the Makefile's node-deps target, from test/node/package.json).
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

const root = resolve(process.env.SOULGW_NPM || 'build/npm');
const require = createRequire(`${root}/node_modules/`);

export const OpenAI = require('openai').default;
export const openaiErrors = require('openai');
export const { Client: McpClient } = require('@modelcontextprotocol/sdk/client/index.js');
export const { StreamableHTTPClientTransport } = require(
  '@modelcontextprotocol/sdk/client/streamableHttp.js');
export const mcpTypes = require('@modelcontextprotocol/sdk/types.js');
