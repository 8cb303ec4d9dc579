/**
 * Demo geography in central Berlin: routes along real streets and fences around real places.
 *
 * All coordinates were digitised by hand from well-known landmarks (Brandenburger Tor,
 * Fernsehturm, Checkpoint Charlie, Siegessäule, Strausberger Platz, Oberbaumbrücke …) and the
 * straight course of the streets between them; they are meant to be right to about 50 m, which
 * is enough for a demo map and within GPS noise, not for navigation. [longitude, latitude], WGS84.
 */

export type LonLat = [number, number];

/** GeoJSON (RFC 7946) geometries the demo fences use. */
export interface GeoJsonPoint {
  type: 'Point';
  coordinates: LonLat;
}
export interface GeoJsonPolygon {
  type: 'Polygon';
  /** Exterior ring first, counter-clockwise, closed (first point repeated last). */
  coordinates: LonLat[][];
}

export interface DemoFence {
  name: string;
  geometry: GeoJsonPoint | GeoJsonPolygon;
  /** Metres; only for a circle (a Point geometry). */
  radius?: number;
}

export type TravelMode = 'walk' | 'bike' | 'car';

export interface DemoRoute {
  name: string;
  mode: TravelMode;
  path: LonLat[];
}

/** The area every route and fence lies in (a bounding box around Berlin-Mitte and Friedrichshain). */
export const demoArea = { west: 13.315, south: 52.495, east: 13.46, north: 52.53 } as const;

export const demoFences: DemoFence[] = [
  {
    name: 'Brandenburger Tor',
    geometry: { type: 'Point', coordinates: [13.3777, 52.51627] },
    radius: 150,
  },
  {
    name: 'Alexanderplatz',
    // The square between the S-Bahn station, Alexanderstraße, Grunerstraße and the Galeria building.
    geometry: {
      type: 'Polygon',
      coordinates: [
        [
          [13.4096, 52.5223],
          [13.41, 52.5204],
          [13.4162, 52.5198],
          [13.4182, 52.5211],
          [13.4168, 52.5228],
          [13.4138, 52.5236],
          [13.4096, 52.5223],
        ],
      ],
    },
  },
  {
    name: 'Museumsinsel',
    // The northern half of the Spree island: Bode-Museum at the tip, down Kupfergraben to
    // Schlossbrücke, across the Lustgarten, up the Spree past the Dom and the Alte Nationalgalerie.
    geometry: {
      type: 'Polygon',
      coordinates: [
        [
          [13.394, 52.5224],
          [13.3957, 52.5205],
          [13.3976, 52.5186],
          [13.3986, 52.5176],
          [13.4008, 52.5176],
          [13.4032, 52.5186],
          [13.4024, 52.5201],
          [13.3995, 52.5214],
          [13.3962, 52.5227],
          [13.394, 52.5224],
        ],
      ],
    },
  },
  {
    name: 'Checkpoint Charlie',
    geometry: { type: 'Point', coordinates: [13.39039, 52.5075] },
    radius: 100,
  },
  {
    name: 'Großer Stern',
    geometry: { type: 'Point', coordinates: [13.3501, 52.51451] },
    radius: 120,
  },
];

export const demoRoutes: DemoRoute[] = [
  {
    name: 'Unter den Linden: Brandenburger Tor to Lustgarten',
    mode: 'walk',
    path: [
      [13.3777, 52.51628], // Brandenburger Tor
      [13.3795, 52.51638], // Pariser Platz, east side
      [13.3812, 52.51648], // Wilhelmstraße
      [13.3889, 52.51698], // Friedrichstraße
      [13.3935, 52.51725], // Bebelplatz / Humboldt-Universität
      [13.3963, 52.5175], // Neue Wache
      [13.3995, 52.5176], // Schlossbrücke
      [13.4005, 52.5185], // Lustgarten
    ],
  },
  {
    name: 'Friedrichstraße: Oranienburger Tor to Kochstraße',
    mode: 'bike',
    path: [
      [13.3876, 52.5275], // Oranienburger Tor (Torstraße)
      [13.3879, 52.524], // Reinhardtstraße
      [13.3886, 52.521], // Weidendammer Brücke
      [13.3884, 52.5202], // Bahnhof Friedrichstraße
      [13.3889, 52.517], // Unter den Linden
      [13.3893, 52.5146], // Französische Straße
      [13.3899, 52.5101], // Leipziger Straße
      [13.3904, 52.5075], // Checkpoint Charlie
      [13.3907, 52.5062], // Kochstraße
    ],
  },
  {
    name: 'Karl-Marx-Allee: Alexanderplatz to Frankfurter Tor',
    mode: 'car',
    path: [
      [13.4174, 52.5212], // Alexanderstraße by the Haus des Lehrers
      [13.4231, 52.51995], // Kino International
      [13.432, 52.5181], // Strausberger Platz
      [13.4448, 52.5168], // Weberwiese
      [13.454, 52.5158], // Frankfurter Tor
    ],
  },
  {
    name: 'Alexanderplatz to Museumsinsel',
    mode: 'walk',
    path: [
      [13.4133, 52.5213], // Weltzeituhr
      [13.4113, 52.5216], // through Bahnhof Alexanderplatz
      [13.4094, 52.5206], // Fernsehturm
      [13.4069, 52.5194], // Neptunbrunnen
      [13.4045, 52.5188], // Marx-Engels-Forum
      [13.4034, 52.5194], // Liebknechtbrücke
      [13.4003, 52.5188], // Lustgarten
      [13.3985, 52.519], // Altes Museum
      [13.3975, 52.52], // Neues Museum, Bodestraße
      [13.3962, 52.521], // Pergamonmuseum, Am Kupfergraben
      [13.3947, 52.5219], // Bode-Museum
    ],
  },
  {
    name: 'Around the Tiergarten: Großer Stern, Bellevue, Reichstag',
    mode: 'bike',
    path: [
      [13.3771, 52.5162], // Brandenburger Tor, west side
      [13.3722, 52.5159], // Sowjetisches Ehrenmal
      [13.3612, 52.5152], // Straße des 17. Juni
      [13.3514, 52.5148], // Großer Stern, round the Siegessäule
      [13.3507, 52.5154], // into Spreeweg
      [13.3533, 52.5172], // Schloss Bellevue
      [13.354, 52.5178], // John-Foster-Dulles-Allee
      [13.36, 52.5183],
      [13.365, 52.518], // Haus der Kulturen der Welt
      [13.3672, 52.5177], // Scheidemannstraße
      [13.3745, 52.5175], // Reichstag, south side
      [13.3772, 52.5173], // Ebertstraße
      [13.3771, 52.5162], // back at the Brandenburger Tor
    ],
  },
  {
    name: 'Straße des 17. Juni: Brandenburger Tor to Ernst-Reuter-Platz',
    mode: 'car',
    path: [
      [13.3765, 52.5162], // Ebertstraße, west of the gate
      [13.3722, 52.5159], // Sowjetisches Ehrenmal
      [13.352, 52.5147], // Großer Stern, east
      [13.3485, 52.5144], // Großer Stern, west
      [13.3358, 52.5137], // Tiergarten S-Bahn bridge
      [13.3225, 52.5127], // Ernst-Reuter-Platz
    ],
  },
  {
    name: 'Leipziger Straße: Potsdamer Platz to Spittelmarkt',
    mode: 'car',
    path: [
      [13.3762, 52.5096], // Potsdamer Platz
      [13.379, 52.5097], // Leipziger Platz
      [13.383, 52.5099], // Wilhelmstraße
      [13.3899, 52.5101], // Friedrichstraße
      [13.3975, 52.5106], // Jerusalemer Straße
      [13.404, 52.5111], // Spittelmarkt
    ],
  },
  {
    name: 'East Side Gallery: Ostbahnhof to Oberbaumbrücke',
    mode: 'walk',
    path: [
      [13.4335, 52.5077], // Mühlenstraße at Straße der Pariser Kommune
      [13.439, 52.5052], // East Side Gallery
      [13.4445, 52.5029], // Warschauer Straße
      [13.4458, 52.5019], // Oberbaumbrücke
      [13.4448, 52.5011], // Kreuzberg bank
    ],
  },
  {
    name: 'Along the Spree: Reichstag to Bode-Museum',
    mode: 'walk',
    path: [
      [13.3777, 52.5186], // Reichstag, east portal
      [13.381, 52.5199], // Marschallbrücke
      [13.3845, 52.5204], // Reichstagufer
      [13.3868, 52.5208], // Tränenpalast
      [13.3886, 52.5212], // Weidendammer Brücke
      [13.3905, 52.5214], // Am Weidendamm
      [13.3925, 52.5218], // Ebertbrücke
      [13.3945, 52.5221], // Bode-Museum
    ],
  },
  {
    name: 'Ebertstraße: Potsdamer Platz to Brandenburger Tor',
    mode: 'walk',
    path: [
      [13.3762, 52.5096], // Potsdamer Platz
      [13.3768, 52.512], // Ebertstraße at the Ministergärten
      [13.3771, 52.514], // Holocaust-Mahnmal, west side
      [13.3773, 52.516], // Brandenburger Tor
    ],
  },
];
