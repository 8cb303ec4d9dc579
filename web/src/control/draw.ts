/** Drawing on the map with terra-draw: circles, polygons and corridors (a line), and editing one shape. */
import { TerraDraw, TerraDrawCircleMode, TerraDrawLineStringMode, TerraDrawPolygonMode, TerraDrawSelectMode, type GeoJSONStoreFeatures } from 'terra-draw';
import { TerraDrawMapLibreGLAdapter } from 'terra-draw-maplibre-gl-adapter';
import type { MLMap } from '../lib/map';
import { circleOf, circleRing, round } from '../lib/geo';
import type { Fence, Geometry, LonLat } from '../lib/types';

export type Shape = 'circle' | 'polygon' | 'corridor';

/** A drawn shape in the API's terms: geometry plus radius for a circle. */
export interface Drawn { shape: Shape; geometry: Geometry; radius?: number }

const MODE: Record<Shape, string> = { circle: 'circle', polygon: 'polygon', corridor: 'linestring' };
const editable = { feature: { draggable: true, coordinates: { midpoints: true, draggable: true, deletable: true } } };

export class Drawing {
  private readonly draw: TerraDraw;
  private onDone: ((d: Drawn) => void) | undefined;

  constructor(map: MLMap) {
    this.draw = new TerraDraw({
      adapter: new TerraDrawMapLibreGLAdapter({ map }),
      modes: [
        new TerraDrawCircleMode(),
        new TerraDrawPolygonMode(),
        new TerraDrawLineStringMode(),
        new TerraDrawSelectMode({ flags: { polygon: editable, linestring: editable, circle: { feature: { draggable: true, coordinates: { resizable: 'center-fixed' } } } } }),
      ],
    });
    this.draw.start();
    this.draw.on('finish', (id, context) => {
      if (context.action !== 'draw' || !this.onDone) return;
      const feature = this.draw.getSnapshotFeature(id);
      if (!feature) return;
      const done = this.onDone;
      this.onDone = undefined;
      done(toDrawn(feature));
    });
  }

  /** Starts drawing a shape; `done` gets it when the operator finishes. */
  start(shape: Shape, done: (d: Drawn) => void): void {
    this.draw.clear();
    this.onDone = done;
    this.draw.setMode(MODE[shape]);
  }

  /** Puts an existing fence on the map for editing its shape; `current()` reads it back. */
  edit(fence: Fence): void {
    this.draw.clear();
    const g = fence.geometry;
    const [mode, geometry]: [string, GeoJSON.Geometry] =
      g.type === 'Point' ? ['circle', { type: 'Polygon', coordinates: [circleRing(g.coordinates as LonLat, fence.radius ?? 50)] }]
        : g.type === 'LineString' ? ['linestring', g as GeoJSON.LineString]
          : ['polygon', (g.type === 'MultiPolygon' ? { type: 'Polygon', coordinates: (g.coordinates as LonLat[][][])[0]! } : g) as GeoJSON.Polygon];
    this.draw.setMode('select');
    const [result] = this.draw.addFeatures([{ type: 'Feature', geometry, properties: { mode } } as GeoJSONStoreFeatures]);
    if (result?.valid && result.id !== undefined) this.draw.selectFeature(result.id);
  }

  /** The shape being edited, in the API's terms. */
  current(): Drawn | undefined {
    const [feature] = this.draw.getSnapshot();
    return feature && toDrawn(feature);
  }

  stop(): void {
    this.onDone = undefined;
    this.draw.clear();
    this.draw.setMode('static');
  }

  destroy(): void {
    this.draw.stop();
  }
}

function toDrawn(feature: GeoJSONStoreFeatures): Drawn {
  const mode = feature.properties.mode as string;
  if (mode === 'circle') {
    const { center, radius } = circleOf((feature.geometry as GeoJSON.Polygon).coordinates[0] as LonLat[]);
    return { shape: 'circle', geometry: { type: 'Point', coordinates: center }, radius };
  }
  const geometry = feature.geometry as GeoJSON.Polygon | GeoJSON.LineString;
  const roundAll = (c: unknown): unknown => (typeof c === 'number' ? round(c) : (c as unknown[]).map(roundAll));
  return { shape: mode === 'linestring' ? 'corridor' : 'polygon', geometry: { type: geometry.type, coordinates: roundAll(geometry.coordinates) } };
}
