import { MemoryBus } from '../../src/adapters/bus-memory.js';
import { busContract } from './bus.contract.js';

busContract('memory', async () => new MemoryBus({ retryDelayMs: 5 }));
